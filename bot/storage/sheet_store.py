"""Characters' sheets: which jobs are a sheet's panels, and which sheets are due to be posted.

A sheet is due when every one of its panel jobs has ended and a panel job newer than what was
last posted exists (its first posting, or after a panel was redone); it is read from the
database, so a restart in the middle still posts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.sheets import Kind
from bot.storage.database import Database, Executor, Row
from bot.storage.job_store import DELIVERED, RESULT, UNFINISHED

_UNFINISHED = ", ".join(f"'{state}'" for state in UNFINISHED)  # constants, never user input


# How long one process may take to post a sheet before another may try (its posting died).
POSTING_HOLD_SECONDS = 120.0


@dataclass(frozen=True)
class NewSheet:
    interaction_id: int  # the Confirm that made it: one sheet, however often it is pressed
    requester_id: int
    guild_id: int | None
    channel_id: int
    character_id: int | None
    character_name: str
    kind: Kind
    guild_locale: str
    private: bool
    upload_limit: int
    created_at: float


@dataclass(frozen=True)
class Sheet(NewSheet):
    id: int
    posted_through: int
    message_id: int | None
    story_id: int | None = None  # the story its panels form, once made


@dataclass(frozen=True)
class SheetPanel:
    """A place on a sheet: its newest job, and that job's result if it was delivered."""

    position: int
    job_id: int
    image: bytes | None


def _sheet(row: Row) -> Sheet:
    return Sheet(
        interaction_id=row["interaction_id"],
        requester_id=row["requester_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        character_id=row["character_id"],
        character_name=row["character_name"],
        kind=Kind(row["kind"]),
        guild_locale=row["guild_locale"],
        private=bool(row["private"]),
        upload_limit=row["upload_limit"],
        created_at=row["created_at"],
        id=row["id"],
        posted_through=row["posted_through"],
        message_id=row["message_id"],
        story_id=row["story_id"],
    )


class SheetStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, sheet: NewSheet) -> int:
        """The sheet's id; the same one when its Confirm is heard twice."""

        async def work(tx: Executor) -> int:
            await tx.execute(
                "INSERT INTO sheets (interaction_id, requester_id, guild_id, channel_id,"
                " character_id, character_name, kind, guild_locale, private, upload_limit,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (interaction_id) DO NOTHING",
                sheet.interaction_id,
                sheet.requester_id,
                sheet.guild_id,
                sheet.channel_id,
                sheet.character_id,
                sheet.character_name,
                sheet.kind.value,
                sheet.guild_locale,
                sheet.private,
                sheet.upload_limit,
                sheet.created_at,
            )
            [row] = await tx.fetch(
                "SELECT id FROM sheets WHERE interaction_id = $1", sheet.interaction_id
            )
            return int(row["id"])

        return await self.database.run(work)

    async def get(self, sheet_id: int) -> Sheet | None:
        rows = await self.database.fetch("SELECT * FROM sheets WHERE id = $1", sheet_id)
        return _sheet(rows[0]) if rows else None

    async def due(self) -> list[Sheet]:
        """Sheets whose panels have all ended since they were last posted."""
        rows = await self.database.fetch(
            "SELECT s.* FROM sheets s WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.sheet_id = s.id"  # noqa: S608 - states are constants
            " AND j.id > s.posted_through) AND NOT EXISTS (SELECT 1 FROM jobs j"
            f" WHERE j.sheet_id = s.id AND j.state IN ({_UNFINISHED})) ORDER BY s.id"
        )
        return [_sheet(row) for row in rows]

    async def panels(self, sheet_id: int) -> list[SheetPanel]:
        """Each place's newest job, by position, with its result if it was delivered."""
        rows = await self.database.fetch(
            "SELECT j.id, j.sheet_position, j.state, i.data FROM jobs j"
            " LEFT JOIN job_images ji ON ji.job_id = j.id AND ji.role = $2"
            " LEFT JOIN images i ON i.sha256 = ji.sha256"
            " WHERE j.sheet_id = $1 ORDER BY j.sheet_position, j.id",
            sheet_id,
            RESULT,
        )
        newest: dict[int, SheetPanel] = {}
        for row in rows:
            data = row["data"] if row["state"] == DELIVERED else None
            newest[row["sheet_position"]] = SheetPanel(
                row["sheet_position"], row["id"], bytes(data) if data is not None else None
            )
        return [newest[position] for position in sorted(newest)]

    async def newest_job(self, sheet_id: int) -> int:
        rows = await self.database.fetch(
            "SELECT COALESCE(MAX(id), 0) AS newest FROM jobs WHERE sheet_id = $1", sheet_id
        )
        return int(rows[0]["newest"])

    async def claim_posting(
        self, sheet_id: int, through: int, now: float, hold: float = POSTING_HOLD_SECONDS
    ) -> bool:
        """Take the posting of a due sheet for `hold` seconds; False when it is posted already
        or another process is posting it (each process polls for due sheets)."""
        rows = await self.database.fetch(
            "UPDATE sheets SET posting_until = $3"
            " WHERE id = $1 AND posted_through < $2 AND posting_until < $4 RETURNING id",
            sheet_id,
            through,
            now + hold,
            now,
        )
        return bool(rows)

    async def release_posting(self, sheet_id: int) -> None:
        """The posting failed: whichever process polls next may try again."""
        await self.database.execute("UPDATE sheets SET posting_until = 0 WHERE id = $1", sheet_id)

    async def mark_posted(self, sheet_id: int, through: int, message_id: int) -> None:
        await self.database.execute(
            "UPDATE sheets SET posted_through = $2, message_id = $3, posting_until = 0"
            " WHERE id = $1 AND posted_through < $2",
            sheet_id,
            through,
            message_id,
        )

    async def set_story(self, sheet_id: int, story_id: int) -> None:
        await self.database.execute(
            "UPDATE sheets SET story_id = $2 WHERE id = $1", sheet_id, story_id
        )

    async def failed_panel(self, sheet_id: int, position: int) -> int | None:
        """The newest job at a place, if it failed (so a redo is due), else None."""
        rows = await self.database.fetch(
            "SELECT id, state FROM jobs WHERE sheet_id = $1 AND sheet_position = $2"
            " ORDER BY id DESC LIMIT 1",
            sheet_id,
            position,
        )
        if rows and rows[0]["state"] not in (*UNFINISHED, DELIVERED):
            return int(rows[0]["id"])
        return None

    async def delete_user_data(self, user_id: int) -> list[tuple[int, int]]:
        """Forget a user's sheets; returns (channel, message) of the sheets the bot posted, to
        take down. Their panel jobs are the job store's to forget."""

        async def work(tx: Executor) -> list[tuple[int, int]]:
            rows = await tx.fetch(
                "SELECT channel_id, message_id FROM sheets WHERE requester_id = $1"
                " AND message_id IS NOT NULL AND private = FALSE",
                user_id,
            )
            await tx.execute("DELETE FROM sheets WHERE requester_id = $1", user_id)
            return [(int(row["channel_id"]), int(row["message_id"])) for row in rows]

        return await self.database.run(work)
