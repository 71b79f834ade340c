"""Per-server settings that a server's admins choose, kept in the database.

Every rule here is checked before anything is paid for: where /pose may be used, the server's
caps, blocked words; and what every request gets: the server's default negative prompt and,
unless an age-restricted channel allows more, one that excludes nudity.
"""

from __future__ import annotations

import json

from bot.domain.server_rules import ServerSettings
from bot.storage.database import Database, Row


def _settings(row: Row) -> ServerSettings:
    return ServerSettings(
        guild_id=row["guild_id"],
        enabled=row["enabled"],
        channels=tuple(json.loads(row["channels"])),
        daily_cap=row["daily_cap"],
        user_cap=row["user_cap"],
        negative_prompt=row["negative_prompt"],
        nsfw_allowed=row["nsfw_allowed"],
        blocked_words=tuple(json.loads(row["blocked_words"])),
        private_results=row["private_results"],
    )


class ServerSettingsStore:
    """Reads each server's settings once, then serves them from memory (only the bot's own
    /admin commands change them), so /pose can consult them before its deferral."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: dict[int, ServerSettings] = {}

    async def get(self, guild_id: int) -> ServerSettings:
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        rows = await self.database.fetch(
            "SELECT * FROM server_settings WHERE guild_id = $1", guild_id
        )
        settings = _settings(rows[0]) if rows else ServerSettings(guild_id)
        self._cache[guild_id] = settings
        return settings

    def cached(self, guild_id: int) -> ServerSettings | None:
        """A server's settings as last read or saved by this process, without asking the
        database (None if never): a hint for what must not wait, such as a deferral."""
        return self._cache.get(guild_id)

    async def save(self, settings: ServerSettings) -> None:
        await self.database.execute(
            "INSERT INTO server_settings (guild_id, enabled, channels, daily_cap, user_cap,"
            " negative_prompt, nsfw_allowed, blocked_words, private_results)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (guild_id) DO UPDATE SET enabled = excluded.enabled,"
            " channels = excluded.channels, daily_cap = excluded.daily_cap,"
            " user_cap = excluded.user_cap, negative_prompt = excluded.negative_prompt,"
            " nsfw_allowed = excluded.nsfw_allowed, blocked_words = excluded.blocked_words,"
            " private_results = excluded.private_results",
            settings.guild_id,
            settings.enabled,
            json.dumps(list(settings.channels)),
            settings.daily_cap,
            settings.user_cap,
            settings.negative_prompt,
            settings.nsfw_allowed,
            json.dumps(list(settings.blocked_words)),
            settings.private_results,
        )
        self._cache[settings.guild_id] = settings
