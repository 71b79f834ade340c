"""Each user's own defaults for /pose (/settings), kept in the database; /forget-me deletes them."""

from __future__ import annotations

from bot.domain.pose_defaults import NO_DEFAULTS, PoseDefaults
from bot.storage.database import Database


class UserSettingsStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def get(self, user_id: int) -> PoseDefaults:
        rows = await self.database.fetch(
            "SELECT size, steps, guidance, negative_prompt, character_id FROM user_settings"
            " WHERE user_id = $1",
            user_id,
        )
        if not rows:
            return NO_DEFAULTS
        row = rows[0]
        return PoseDefaults(
            size=row["size"],
            steps=row["steps"],
            guidance=row["guidance"],
            negative_prompt=row["negative_prompt"],
            character_id=row["character_id"],
        )

    async def save(self, user_id: int, defaults: PoseDefaults) -> None:
        """Keep a user's defaults; none at all leaves no row behind."""
        if defaults.empty:
            await self.delete_user_data(user_id)
            return
        await self.database.execute(
            "INSERT INTO user_settings (user_id, size, steps, guidance, negative_prompt,"
            " character_id) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (user_id) DO UPDATE SET size = excluded.size,"
            " steps = excluded.steps, guidance = excluded.guidance,"
            " negative_prompt = excluded.negative_prompt, character_id = excluded.character_id",
            user_id,
            defaults.size,
            defaults.steps,
            defaults.guidance,
            defaults.negative_prompt,
            defaults.character_id,
        )

    async def delete_user_data(self, user_id: int) -> bool:
        """Forget a user's defaults; True if they had any."""
        rows = await self.database.fetch(
            "DELETE FROM user_settings WHERE user_id = $1 RETURNING user_id", user_id
        )
        return bool(rows)
