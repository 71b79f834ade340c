"""Jobs and their images, kept in the database so that a restart loses nothing.

A job moves queued → running → generated → delivered, or ends failed or cancelled. Every
transition names the states it may come from, so a job can never be, say, delivered twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from bot.database import Database, Executor, Row, migrate
from bot.migrations import MIGRATIONS
from bot.pose import PoseOptions
from bot.segmind import Ticket

QUEUED = "queued"
RUNNING = "running"
GENERATED = "generated"  # the API's image is stored; only delivery is left
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
UNFINISHED = (QUEUED, RUNNING, GENERATED)

CHARACTER, POSE, RESULT = "character", "pose", "result"
PAUSED = "paused"  # the fact in bot_state holding why generation is paused for everyone


_COUNTED = (QUEUED, RUNNING, GENERATED, DELIVERED)
# Caps, budgets and warnings all look back over this rolling window.
DAY_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class Spend:
    generations: int
    dollars: float
    oldest: float | None  # when the oldest counted job was accepted: the window frees from it


@dataclass(frozen=True)
class StoredImage:
    role: str
    format: str
    width: int
    height: int
    data: bytes = field(repr=False)
    source_url: str | None = None


@dataclass(frozen=True)
class NewJob:
    """What an accepted /pose leaves behind: enough to run and deliver it after a restart."""

    requester_id: int
    guild_id: int | None
    channel_id: int
    application_id: int
    interaction_id: int
    token: str = field(repr=False)  # lets the bot edit its reply for 15 minutes
    token_expires_at: float
    status_message_id: int | None
    upload_limit: int  # the interaction's attachment_size_limit, for the result's file
    options: PoseOptions
    created_at: float
    # The earlier job whose result this one was made from (its Reroll or New pose button).
    parent_job_id: int | None = field(default=None, kw_only=True)
    # US dollars: the price reserved on acceptance, replaced by the API's x-cost on success.
    cost: float = field(default=0.0, kw_only=True)
    # Shown to the requester alone (the server's choice): the card, the result, any failure.
    private: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class Job(NewJob):
    id: int
    state: str
    reason: str | None
    attempts: int
    started_at: float | None
    generated_at: float | None
    finished_at: float | None
    ticket: Ticket | None
    result_message_id: int | None
    usage: dict[str, str]
    # The process working on it and until when (renewed while it works), and what its queue
    # card last showed.
    owner: str | None = field(default=None, kw_only=True)
    lease_until: float | None = field(default=None, kw_only=True)
    card: str | None = field(default=None, kw_only=True)


_OPTION_COLUMNS = tuple(f.name for f in fields(PoseOptions))
_NEW_JOB_COLUMNS = (
    "requester_id",
    "guild_id",
    "channel_id",
    "application_id",
    "interaction_id",
    "token",
    "token_expires_at",
    "status_message_id",
    "upload_limit",
    "created_at",
    "parent_job_id",
    "cost",
    "private",
)


def job_from_row(row: Row) -> Job:
    ticket = None
    if row["status_url"]:
        ticket = Ticket(row["request_id"], row["status_url"], row["response_url"])
    return Job(
        **{name: row[name] for name in _NEW_JOB_COLUMNS if name != "private"},
        private=bool(row["private"]),  # SQLite hands booleans back as 0 and 1
        options=PoseOptions(**{name: row[name] for name in _OPTION_COLUMNS}),
        id=row["id"],
        state=row["state"],
        reason=row["reason"],
        attempts=row["attempts"],
        started_at=row["started_at"],
        generated_at=row["generated_at"],
        finished_at=row["finished_at"],
        ticket=ticket,
        result_message_id=row["result_message_id"],
        usage=json.loads(row["usage"]) if row["usage"] else {},
        owner=row["owner"],
        lease_until=row["lease_until"],
        card=row["card"],
    )


# Every write of a started job names its owner and attempt: a process that lost the job to
# another (its lease ran out) can no longer change it.
_FENCE = "owner = ? AND attempts = ?"


def _fence(job: Job) -> tuple[str | None, int]:
    return job.owner, job.attempts


def _in(states: Iterable[str]) -> str:
    """A SQL list of state names; they are this module's constants, never user input."""
    return ", ".join(f"'{state}'" for state in states)


class Store:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def migrate(self) -> None:
        await migrate(self.database, MIGRATIONS)

    async def close(self) -> None:
        await self.database.close()

    async def add_job(self, job: NewJob, images: Iterable[StoredImage]) -> int:
        """Insert a queued job with its input images, in one transaction. One interaction is
        one job, whichever process heard it: a second insert returns the first job's id."""
        columns = (*_NEW_JOB_COLUMNS, *_OPTION_COLUMNS, "state")
        values = (
            *(getattr(job, name) for name in _NEW_JOB_COLUMNS),
            *(getattr(job.options, name) for name in _OPTION_COLUMNS),
            QUEUED,
        )
        placeholders = ", ".join("?" for _ in columns)
        stored = list(images)

        async def work(tx: Executor) -> int:
            # A user who had nothing queued or running starts a new fair-share spell.
            await tx.execute(
                "DELETE FROM user_spells WHERE user_id = ? AND NOT EXISTS (SELECT 1 FROM jobs"
                " WHERE requester_id = ? AND state IN (?, ?))",
                job.requester_id,
                job.requester_id,
                QUEUED,
                RUNNING,
            )
            rows = await tx.fetch(
                f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 - column names are constants
                " ON CONFLICT (interaction_id) DO NOTHING RETURNING id",
                *values,
            )
            if not rows:
                [existing] = await tx.fetch(
                    "SELECT id FROM jobs WHERE interaction_id = ?", job.interaction_id
                )
                return int(existing["id"])
            for image in stored:
                await _insert_image(tx, rows[0]["id"], image)
            return int(rows[0]["id"])

        return await self.database.run(work)

    async def job(self, job_id: int) -> Job | None:
        rows = await self.database.fetch("SELECT * FROM jobs WHERE id = ?", job_id)
        return job_from_row(rows[0]) if rows else None

    async def jobs(self, states: Iterable[str]) -> list[Job]:
        """Jobs in these states, oldest first."""
        rows = await self.database.fetch(
            f"SELECT * FROM jobs WHERE state IN ({_in(states)}) ORDER BY id"  # noqa: S608
        )
        return [job_from_row(row) for row in rows]

    async def images(self, job_id: int) -> dict[str, StoredImage]:
        rows = await self.database.fetch(
            "SELECT role, format, width, height, data, source_url FROM job_images WHERE job_id = ?",
            job_id,
        )
        return {
            row["role"]: StoredImage(
                row["role"],
                row["format"],
                row["width"],
                row["height"],
                bytes(row["data"]),
                row["source_url"],
            )
            for row in rows
        }

    async def set_ticket(self, job: Job, ticket: Ticket) -> bool:
        """Remember an async generation the moment it is submitted: from then on it is
        collected, never submitted again."""
        rows = await self.database.fetch(
            "UPDATE jobs SET request_id = ?, status_url = ?, response_url = ?"
            " WHERE id = ? AND state = ? AND owner = ? AND attempts = ? RETURNING id",
            ticket.request_id,
            ticket.status_url,
            ticket.response_url,
            job.id,
            RUNNING,
            *_fence(job),
        )
        return bool(rows)

    async def save_result(
        self,
        job: Job,
        image: StoredImage,
        usage: dict[str, str],
        now: float,
        *,
        cost: float | None = None,
    ) -> bool:
        """running → generated, with the image: from here on nothing is paid for again.

        `cost` is what the API says it charged (x-cost); None keeps the reserved price. Safe to
        run twice (the second finds the job generated already and changes nothing).
        """

        async def work(tx: Executor) -> bool:
            moved = await tx.fetch(
                "UPDATE jobs SET state = ?, generated_at = ?, usage = ?, cost = COALESCE(?, cost)"
                " WHERE id = ? AND state = ? AND owner = ? AND attempts = ? RETURNING id",
                GENERATED,
                now,
                json.dumps(usage),
                cost,
                job.id,
                RUNNING,
                *_fence(job),
            )
            if moved:
                await tx.execute(
                    "DELETE FROM job_images WHERE job_id = ? AND role = ?", job.id, RESULT
                )
                await _insert_image(tx, job.id, image)
            return bool(moved)

        return await self.database.run(work)

    async def mark_delivered(self, job: Job, message_id: int, now: float) -> bool:
        return await self._move(
            job,
            (GENERATED,),
            DELIVERED,
            "result_message_id = ?, finished_at = ?, owner = NULL, lease_until = NULL",
            message_id,
            now,
        )

    async def fail(self, job: Job, reason: str, now: float) -> bool:
        return await self._move(
            job,
            UNFINISHED,
            FAILED,
            "reason = ?, finished_at = ?, owner = NULL, lease_until = NULL",
            reason[:500],
            now,
        )

    async def cancel(self, job_id: int, now: float) -> bool:
        """queued → cancelled; a running job has been paid for and cannot be."""
        rows = await self.database.fetch(
            "UPDATE jobs SET state = ?, finished_at = ? WHERE id = ? AND state = ? RETURNING id",
            CANCELLED,
            now,
            job_id,
            QUEUED,
        )
        return bool(rows)

    async def spend_since(
        self, since: float, requester_id: int | None = None, guild_id: int | None = None
    ) -> Spend:
        """Generations and dollars counted since `since`: accepted jobs still reserve their
        price, generated ones count what they cost; failed and cancelled ones count nothing."""
        counted = _in(_COUNTED)
        sql = (
            "SELECT COUNT(*) AS n, COALESCE(SUM(cost), 0) AS total, MIN(created_at) AS oldest"  # noqa: S608 - states are constants
            f" FROM jobs WHERE created_at > ? AND state IN ({counted})"
        )
        args: list[Any] = [since]
        if requester_id is not None:
            sql += " AND requester_id = ?"
            args.append(requester_id)
        if guild_id is not None:
            sql += " AND guild_id = ?"
            args.append(guild_id)
        [row] = await self.database.fetch(sql, *args)
        return Spend(int(row["n"]), float(row["total"]), row["oldest"])

    async def spend_per(
        self, column: str, since: float, *, guild_id: int | None = None, limit: int = 100
    ) -> list[Row]:
        """Generations and dollars since `since` per requester_id or per guild_id (one server's
        requesters when `guild_id` is given), the most spent first."""
        if column not in ("requester_id", "guild_id"):
            raise ValueError(f"cannot group spend by {column!r}")
        where = f"created_at > ? AND state IN ({_in(_COUNTED)})"
        args: list[Any] = [since]
        if guild_id is not None:
            where += " AND guild_id = ?"
            args.append(guild_id)
        return await self.database.fetch(
            f"SELECT {column}, COUNT(*) AS generations, SUM(cost) AS dollars FROM jobs"  # noqa: S608 - column checked above, states are constants
            f" WHERE {where} GROUP BY {column} ORDER BY dollars DESC, {column} LIMIT ?",
            *args,
            limit,
        )

    async def last_usage(self) -> dict[str, str]:
        """The usage headers of the latest generation (x-remaining-credits among them)."""
        rows = await self.database.fetch(
            "SELECT usage FROM jobs WHERE generated_at IS NOT NULL AND usage IS NOT NULL"
            " ORDER BY generated_at DESC LIMIT 1"
        )
        return json.loads(rows[0]["usage"]) if rows else {}

    async def fact(self, key: str) -> str | None:
        rows = await self.database.fetch("SELECT value FROM bot_state WHERE key = ?", key)
        return rows[0]["value"] if rows else None

    async def set_fact(self, key: str, value: str | None) -> None:
        """Keep (or, with None, forget) a fact that must outlive a restart."""
        if value is None:
            await self.database.execute("DELETE FROM bot_state WHERE key = ?", key)
            return
        await self.database.execute(
            "INSERT INTO bot_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )

    async def recent_durations(self, limit: int = 20) -> list[float]:
        """How long the latest generations took, newest first: for queue ETAs."""
        rows = await self.database.fetch(
            "SELECT generated_at - started_at AS took FROM jobs"
            " WHERE generated_at IS NOT NULL AND started_at IS NOT NULL"
            " ORDER BY generated_at DESC LIMIT ?",
            limit,
        )
        return [float(row["took"]) for row in rows]

    async def delete_user_data(self, user_id: int) -> int:
        """Forget a user: their jobs and every image attached to them. Returns jobs deleted."""
        rows = await self.database.fetch(
            "DELETE FROM jobs WHERE requester_id = ? RETURNING id", user_id
        )
        return len(rows)

    async def _move(
        self, job: Job, sources: tuple[str, ...], target: str, sets: str, *args: Any
    ) -> bool:
        """Move a started job on, only while this attempt still owns it."""
        rows = await self.database.fetch(
            f"UPDATE jobs SET state = ?, {sets} WHERE id = ? AND state IN ({_in(sources)})"  # noqa: S608
            f" AND {_FENCE} RETURNING id",
            target,
            *args,
            job.id,
            *_fence(job),
        )
        return bool(rows)


async def _insert_image(tx: Executor, job_id: int, image: StoredImage) -> None:
    await tx.execute(
        "INSERT INTO job_images (job_id, role, format, width, height, source_url, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        job_id,
        image.role,
        image.format,
        image.width,
        image.height,
        image.source_url,
        image.data,
    )
