"""A user's recent results for /history: their delivered jobs whose result message still
stands, newest first, and the result's image while the bot still keeps it."""

from __future__ import annotations

from bot.storage.database import Database
from bot.storage.job_store import DELIVERED, RESULT, Job, StoredImage, job_from_row


class History:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def count(self, user_id: int, character_id: int | None = None) -> int:
        where, args = _where(user_id, character_id)
        [row] = await self.database.fetch(
            f"SELECT COUNT(*) AS n FROM jobs WHERE {where}",  # noqa: S608 - constant clauses
            *args,
        )
        return int(row["n"])

    async def page(
        self, user_id: int, *, character_id: int | None = None, limit: int, offset: int
    ) -> list[Job]:
        """One page of the user's results, newest first."""
        where, args = _where(user_id, character_id)
        rows = await self.database.fetch(
            f"SELECT * FROM jobs WHERE {where}"  # noqa: S608 - constant clauses
            f" ORDER BY id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
            *args,
            limit,
            offset,
        )
        return [job_from_row(row) for row in rows]

    async def result_image(self, job_id: int) -> StoredImage | None:
        """The result's image, unless the bot no longer keeps it (bot/storage/retention.py)."""
        rows = await self.database.fetch(
            "SELECT i.format, i.width, i.height, i.data FROM job_images j"
            " JOIN images i ON i.sha256 = j.sha256 WHERE j.job_id = $1 AND j.role = $2",
            job_id,
            RESULT,
        )
        if not rows:
            return None
        row = rows[0]
        return StoredImage(RESULT, row["format"], row["width"], row["height"], bytes(row["data"]))

    async def result_deleted(self, job_id: int) -> None:
        """The result's message was deleted (its 🗑️ Delete): /history no longer lists it."""
        await self.database.execute(
            "UPDATE jobs SET result_message_id = NULL WHERE id = $1", job_id
        )


def _where(user_id: int, character_id: int | None) -> tuple[str, list[object]]:
    where = "requester_id = $1 AND state = $2 AND result_message_id IS NOT NULL"
    args: list[object] = [user_id, DELIVERED]
    if character_id is not None:
        args.append(character_id)
        where += f" AND character_id = ${len(args)}"
    return where, args
