"""Jobs and their images, kept in the database so that a restart loses nothing.

A job moves queued → running → generated → delivered, or ends failed or cancelled. Every
transition names the states it may come from, so a job can never be, say, delivered twice. A
job refers to its images (bot/storage/image_store.py keeps each once); when it ends, what it no
longer needs goes: its interaction token and the API's status URLs always, its images too
unless it was delivered (bot/storage/retention.py then keeps them for a while after its last
use).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from bot.domain.images import CheckedImage
from bot.domain.pose_request import PoseOptions
from bot.domain.quotas import QuotaRules
from bot.domain.tickets import Ticket
from bot.storage import cooldown_store, image_store, spend_ledger
from bot.storage.database import Database, Executor, Row, Work, migrate
from bot.storage.migrations import MIGRATIONS

QUEUED = "queued"
RUNNING = "running"
GENERATED = "generated"  # the API's image is stored; only delivery is left
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
UNFINISHED = (QUEUED, RUNNING, GENERATED)
ENDED = (DELIVERED, FAILED, CANCELLED)

CHARACTER, POSE, RESULT = "character", "pose", "result"
PAUSED = "paused"  # the fact in bot_state holding why generation is paused for everyone


@dataclass(frozen=True)
class StoredImage:
    role: str
    format: str
    width: int
    height: int
    data: bytes = field(repr=False)
    source_url: str | None = None
    # Whose upload it is (None: the requester's own): a Reroll by someone else of a result
    # still poses the first requester's upload, which /forget-me of theirs removes.
    uploaded_by: int | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        role: str,
        image: CheckedImage,
        source_url: str | None = None,
        uploaded_by: int | None = None,
    ) -> StoredImage:
        return cls(
            role, image.format, image.width, image.height, image.data, source_url, uploaded_by
        )

    @property
    def image(self) -> CheckedImage:
        return CheckedImage(self.data, self.format, self.width, self.height)


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
    # Discord locales: the requester's, for what they alone see, and the server's, for what
    # everyone sees; texts are translated when shown (bot/ui/i18n.py).
    locale: str = field(default="en-US", kw_only=True)
    guild_locale: str = field(default="en-US", kw_only=True)
    # The saved character it posed (also through a Reroll or New pose of such a result).
    character_id: int | None = field(default=None, kw_only=True)
    # A panel of a character's sheet (bot/storage/sheet_store.py) and its place on it.
    sheet_id: int | None = field(default=None, kw_only=True)
    sheet_position: int | None = field(default=None, kw_only=True)


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
    "locale",
    "guild_locale",
    "character_id",
    "sheet_id",
    "sheet_position",
)


@dataclass(frozen=True)
class Forgotten:
    """What /forget-me did to a user's jobs."""

    deleted: int  # ended jobs deleted with their images (not counting `cancelled`)
    cancelled: list[Job]  # waiting jobs cancelled, and deleted too: their cards are to go
    unfinished: int  # started jobs left to finish (paid for already)
    results: list[tuple[int, int]]  # (channel, message) of the results the bot posted


def job_from_row(row: Row) -> Job:
    ticket = None
    if row["status_url"]:
        ticket = Ticket(row["request_id"], row["status_url"], row["response_url"])
    return Job(
        **{name: row[name] for name in _NEW_JOB_COLUMNS},
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


def _in(states: Iterable[str]) -> str:
    """A SQL list of state names; they are this module's constants, never user input."""
    return ", ".join(f"'{state}'" for state in states)


class JobStore:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.ledger = spend_ledger.SpendLedger(database)

    async def migrate(self) -> None:
        await migrate(self.database, MIGRATIONS)

    async def close(self) -> None:
        await self.database.close()

    async def add_job(
        self,
        job: NewJob,
        images: Iterable[StoredImage],
        *,
        quotas: QuotaRules | None = None,
        cooldown_seconds: float | None = None,
    ) -> int:
        """Insert a queued job with its input images, in one transaction. One interaction is
        one job, whichever process heard it: a second insert returns the first job's id.
        With `quotas`, the transaction first decides them again (raises OverQuota); with
        `cooldown_seconds` the requester's cooldown starts with it (raises CoolingDown,
        storing nothing, while their last one still runs); None leaves either alone."""
        [job_id] = await self.add_jobs(
            [job], images, quotas=quotas, cooldown_seconds=cooldown_seconds
        )
        return job_id

    async def add_jobs(
        self,
        jobs: Sequence[NewJob],
        images: Iterable[StoredImage],
        *,
        quotas: QuotaRules | None = None,
        cooldown_seconds: float | None = None,
    ) -> list[int]:
        """Insert one requester's jobs, each with the same input images, in one transaction
        (`add_job`'s rules): the quotas are decided once for all of them (all fit, or
        OverQuota and none is stored) and the cooldown is taken once, by the first."""
        first = jobs[0]
        requester = await self.ledger.requester(first.requester_id)
        columns = (*_NEW_JOB_COLUMNS, *_OPTION_COLUMNS, "state")
        placeholders = ", ".join(f"${number}" for number in range(1, len(columns) + 1))
        stored = [(image, await image_store.digest_off_loop(image.data)) for image in images]

        async def insert(tx: Executor, job: NewJob) -> int | None:
            values = (
                *(getattr(job, name) for name in _NEW_JOB_COLUMNS),
                *(getattr(job.options, name) for name in _OPTION_COLUMNS),
                QUEUED,
            )
            rows = await tx.fetch(
                f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 - column names are constants
                " ON CONFLICT (interaction_id) DO NOTHING RETURNING id",
                *values,
            )
            if not rows:
                return None
            for image, sha256 in stored:
                uploaded_by = image.uploaded_by or job.requester_id
                await _attach_image(tx, rows[0]["id"], image, sha256, uploaded_by, job.created_at)
            return int(rows[0]["id"])

        async def work(tx: Executor) -> list[int]:
            if quotas is not None:
                await spend_ledger.decide_quotas(
                    tx,
                    self.database.dialect,
                    quotas,
                    requester,
                    first.guild_id,
                    first.interaction_id,
                    first.created_at,
                    count=len(jobs),
                )
            # A user who had nothing queued or running starts a new fair-share spell.
            await tx.execute(
                "DELETE FROM user_spells WHERE user_id = $1 AND NOT EXISTS (SELECT 1 FROM jobs"
                " WHERE requester_id = $1 AND state IN ($2, $3))",
                first.requester_id,
                QUEUED,
                RUNNING,
            )
            job_id = await insert(tx, first)
            if job_id is None:
                # Stored already (a retried commit whose answer was lost): the same ids.
                ids = []
                for job in jobs:
                    [existing] = await tx.fetch(
                        "SELECT id FROM jobs WHERE interaction_id = $1", job.interaction_id
                    )
                    ids.append(int(existing["id"]))
                return ids
            if cooldown_seconds is not None:
                await cooldown_store.take(
                    tx, first.requester_id, first.interaction_id, first.created_at, cooldown_seconds
                )
            ids = [job_id]
            for job in jobs[1:]:
                next_id = await insert(tx, job)
                if next_id is None:
                    raise RuntimeError(f"interaction {job.interaction_id} already has a job")
                ids.append(next_id)
            if first.parent_job_id is not None:
                # A Reroll or New pose is a use of the result it came from: its images stay.
                await tx.execute(
                    "UPDATE jobs SET used_at = $1 WHERE id = $2 AND state = $3"
                    " AND COALESCE(used_at, 0) < $1",
                    first.created_at,
                    first.parent_job_id,
                    DELIVERED,
                )
            return ids

        return await self.database.run(work)

    async def job(self, job_id: int) -> Job | None:
        rows = await self.database.fetch("SELECT * FROM jobs WHERE id = $1", job_id)
        return job_from_row(rows[0]) if rows else None

    async def jobs(self, states: Iterable[str]) -> list[Job]:
        """Jobs in these states, oldest first."""
        rows = await self.database.fetch(
            f"SELECT * FROM jobs WHERE state IN ({_in(states)}) ORDER BY id"  # noqa: S608
        )
        return [job_from_row(row) for row in rows]

    async def images(self, job_id: int) -> dict[str, StoredImage]:
        """The images a job still has, by role (none once they are no longer kept)."""
        return await images_of(self.database, job_id)

    async def image_roles(self, job_id: int) -> set[str]:
        """Which images a job still has, without reading them."""
        rows = await self.database.fetch("SELECT role FROM job_images WHERE job_id = $1", job_id)
        return {row["role"] for row in rows}

    async def set_ticket(self, job: Job, ticket: Ticket) -> bool:
        """Remember an async generation the moment it is submitted: from then on it is
        collected, never submitted again."""
        rows = await self.database.fetch(
            "UPDATE jobs SET request_id = $1, status_url = $2, response_url = $3"
            " WHERE id = $4 AND state = $5 AND owner = $6 AND attempts = $7 RETURNING id",
            ticket.request_id,
            ticket.status_url,
            ticket.response_url,
            job.id,
            RUNNING,
            job.owner,
            job.attempts,
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
        within: Callable[[Work[Job | None]], Awaitable[Job | None]] | None = None,
    ) -> Job | None:
        """running → generated, with the image: from here on nothing is paid for again.
        Returns the job as stored, or None when this attempt no longer holds it.

        `cost` is what the API says it charged (x-cost); None keeps the reserved price. Safe to
        run twice (the second finds the job generated already and changes nothing). `within`
        runs the transaction instead of the database (the job engine's, which hands the freed
        API slot on in the same transaction: `SharedQueue.claim_after`).
        """
        sha256 = await image_store.digest_off_loop(image.data)
        requester = await self.ledger.requester(job.requester_id)

        async def work(tx: Executor) -> Job | None:
            moved = await tx.fetch(
                "UPDATE jobs SET state = $1, generated_at = $2, usage = $3,"
                " cost = COALESCE($4, cost)"
                " WHERE id = $5 AND state = $6 AND owner = $7 AND attempts = $8"
                " RETURNING *",
                GENERATED,
                now,
                json.dumps(usage),
                cost,
                job.id,
                RUNNING,
                job.owner,
                job.attempts,
            )
            if not moved:
                return None
            # Paid: counted from now on, whatever becomes of the job.
            await spend_ledger.record(
                tx,
                job_id=job.id,
                guild_id=job.guild_id,
                key=requester.key,
                cost=float(moved[0]["cost"]),
                at=now,
                billed=True,
            )
            await tx.execute(
                "DELETE FROM job_images WHERE job_id = $1 AND role = $2", job.id, RESULT
            )
            await _attach_image(tx, job.id, image, sha256, job.requester_id, now)
            return job_from_row(moved[0])

        return await (within or self.database.run)(work)

    async def mark_delivered(self, job: Job, message_id: int, now: float) -> bool:
        """generated → delivered. Its images are kept for a while after their last use (the
        sweep's business); Discord's links to the uploads go now."""
        return await self._end(
            job.id,
            (GENERATED,),
            DELIVERED,
            "result_message_id = $1, finished_at = $2, used_at = $2",
            (message_id, now),
            fence=job,
            keep_images=True,
        )

    async def fail(
        self,
        job: Job,
        reason: str,
        now: float,
        *,
        refund: bool = False,
        hold_until: float | None = None,
        possibly_billed: bool = False,
    ) -> bool:
        """An end without a result. `refund`: nothing was billed, so the cooldown this job
        started is given back; `hold_until`: its requester waits for the API's reset;
        `possibly_billed`: the call may have been charged without a result (a timeout, a
        damaged image), and the ledger keeps it, in dollars only."""
        unsure = None
        if possibly_billed:
            requester = await self.ledger.requester(job.requester_id)
            unsure = spend_ledger.Unsure(job.id, job.guild_id, requester.key, job.cost, now)

        async def also(tx: Executor) -> None:
            if refund:
                await cooldown_store.give_back(tx, job.id)
            if hold_until is not None:
                await cooldown_store.hold(tx, job.requester_id, hold_until)
            if unsure is not None:
                await spend_ledger.record(
                    tx,
                    job_id=unsure.job_id,
                    guild_id=unsure.guild_id,
                    key=unsure.key,
                    cost=unsure.cost,
                    at=unsure.at,
                    billed=False,
                )

        return await self._end(
            job.id,
            UNFINISHED,
            FAILED,
            "reason = $1, finished_at = $2",
            (reason[:500], now),
            fence=job,
            keep_images=False,
            also=also,
        )

    async def cancel(self, job_id: int, now: float) -> bool:
        """queued → cancelled; a running job has been paid for and cannot be. The cooldown
        this job started is given back (not a newer request's)."""
        return await self._end(
            job_id,
            (QUEUED,),
            CANCELLED,
            "finished_at = $1",
            (now,),
            fence=None,
            keep_images=False,
            also=lambda tx: cooldown_store.give_back(tx, job_id),
        )

    async def _end(
        self,
        job_id: int,
        sources: tuple[str, ...],
        target: str,
        sets: str,
        args: tuple[Any, ...],
        *,
        fence: Job | None,
        keep_images: bool,
        also: Callable[[Executor], Awaitable[None]] | None = None,
    ) -> bool:
        """Move a job to an end, forgetting in the same transaction what it no longer needs:
        the interaction token, the API's status URLs, and its images unless `keep_images`
        (then only Discord's links to the uploads, and uploads their owner asked to forget).
        `sets` numbers its `args` from $1; `also` runs in the same transaction if it moved.

        A started job moves only while this attempt still owns it (`fence`): every write of a
        started job names its owner and attempt, so a process that lost the job to another
        (its lease ran out) can no longer change it."""
        n = len(args)
        fenced = ""
        fence_args: tuple[Any, ...] = ()
        if fence is not None:
            fenced = f" AND owner = ${n + 3} AND attempts = ${n + 4}"
            fence_args = (fence.owner, fence.attempts)

        async def work(tx: Executor) -> tuple[bool, list[str]]:
            moved = await tx.fetch(
                f"UPDATE jobs SET {sets}, state = ${n + 1}, {_FORGET_SECRETS}"  # noqa: S608 - constants
                f" WHERE id = ${n + 2} AND state IN ({_in(sources)}){fenced} RETURNING id",
                *args,
                target,
                job_id,
                *fence_args,
            )
            if not moved:
                return False, []
            if also is not None:
                await also(tx)
            if keep_images:
                await tx.execute(
                    "UPDATE job_images SET source_url = NULL WHERE job_id = $1", job_id
                )
                let_go = await tx.fetch(
                    "DELETE FROM job_images WHERE job_id = $1 AND forgotten RETURNING sha256",
                    job_id,
                )
            else:
                let_go = await tx.fetch(
                    "DELETE FROM job_images WHERE job_id = $1 RETURNING sha256", job_id
                )
            return True, [row["sha256"] for row in let_go]

        moved, let_go = await self.database.run(work)
        # Apart from the move: an image another job has just taken up again is refused
        # deletion by the database, and that must not undo the move.
        await image_store.delete_unused_quietly(self.database, let_go)
        return moved

    async def last_usage(self) -> dict[str, str]:
        """The usage headers of the latest generation (x-remaining-credits among them)."""
        rows = await self.database.fetch(
            "SELECT usage FROM jobs WHERE generated_at IS NOT NULL AND usage IS NOT NULL"
            " ORDER BY generated_at DESC LIMIT 1"
        )
        return json.loads(rows[0]["usage"]) if rows else {}

    async def fact(self, key: str) -> str | None:
        rows = await self.database.fetch("SELECT value FROM bot_state WHERE key = $1", key)
        return rows[0]["value"] if rows else None

    async def set_fact(self, key: str, value: str | None) -> None:
        """Keep (or, with None, forget) a fact that must outlive a restart."""
        if value is None:
            await self.database.execute("DELETE FROM bot_state WHERE key = $1", key)
            return
        await self.database.execute(
            "INSERT INTO bot_state (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )

    async def recent_durations(self, limit: int = 20) -> list[float]:
        """How long the latest generations took, newest first: for queue ETAs."""
        rows = await self.database.fetch(
            "SELECT generated_at - started_at AS took FROM jobs"
            " WHERE generated_at IS NOT NULL AND started_at IS NOT NULL"
            " ORDER BY generated_at DESC LIMIT $1",
            limit,
        )
        return [float(row["took"]) for row in rows]

    async def delete_user_data(self, user_id: int, now: float) -> Forgotten:
        """Forget a user: their waiting jobs are cancelled (nothing was paid for them), then
        every ended job of theirs is deleted with its images, in one transaction and one
        statement that leaves out started ones (paid for: they finish, and a later
        /forget-me takes them); their uploads in other users' jobs go too
        (`remove_uploads_of`). The ledger keeps what was paid, without the job."""
        await self.remove_uploads_of(user_id)

        async def work(tx: Executor) -> tuple[Forgotten, list[str]]:
            waiting = await tx.fetch(
                "SELECT * FROM jobs WHERE requester_id = $1 AND state = $2", user_id, QUEUED
            )
            stopped = await tx.fetch(
                f"UPDATE jobs SET state = $1, finished_at = $2, {_FORGET_SECRETS}"  # noqa: S608 - constants
                " WHERE requester_id = $3 AND state = $4 RETURNING id",
                CANCELLED,
                now,
                user_id,
                QUEUED,
            )
            cancelled = {row["id"] for row in stopped}
            for job_id in cancelled:  # nothing was billed: as a Cancel, their cooldown goes
                await cooldown_store.give_back(tx, job_id)
            images = await tx.fetch(
                "SELECT DISTINCT i.sha256 FROM job_images i JOIN jobs j ON j.id = i.job_id"  # noqa: S608 - constants
                f" WHERE j.requester_id = $1 AND j.state IN ({_in(ENDED)})",
                user_id,
            )
            deleted = await tx.fetch(
                f"DELETE FROM jobs WHERE requester_id = $1 AND state IN ({_in(ENDED)})"  # noqa: S608 - constants
                " RETURNING id, channel_id, result_message_id",
                user_id,
            )
            [left] = await tx.fetch(
                "SELECT COUNT(*) AS n FROM jobs WHERE requester_id = $1", user_id
            )
            forgotten = Forgotten(
                deleted=len(deleted) - len(cancelled),
                cancelled=[job_from_row(row) for row in waiting if row["id"] in cancelled],
                unfinished=int(left["n"]),
                results=[
                    (int(row["channel_id"]), int(row["result_message_id"]))
                    for row in deleted
                    if row["result_message_id"] is not None
                ],
            )
            return forgotten, [row["sha256"] for row in images]

        forgotten, let_go = await self.database.run(work)
        await image_store.delete_unused_quietly(self.database, let_go)
        return forgotten

    async def remove_uploads_of(self, user_id: int) -> int:
        """Take a user's uploads out of other users' jobs made from theirs (a Reroll of their
        result, a pose of their shared character). A job still waiting or generating needs its
        inputs: those go when it ends. Returns how many other users' jobs were touched."""

        async def work(tx: Executor) -> tuple[int, list[str]]:
            touched = await tx.fetch(
                "SELECT DISTINCT i.job_id FROM job_images i JOIN jobs j ON j.id = i.job_id"
                " WHERE i.uploaded_by = $1 AND j.requester_id <> $1",
                user_id,
            )
            await tx.execute(
                "UPDATE job_images SET forgotten = $1, uploaded_by = NULL WHERE uploaded_by = $2"  # noqa: S608 - states are constants
                " AND job_id IN (SELECT id FROM jobs WHERE requester_id <> $2"
                f" AND state IN ({_in((QUEUED, RUNNING))}))",
                True,
                user_id,
            )
            removed = await tx.fetch(
                "DELETE FROM job_images WHERE uploaded_by = $1 AND job_id IN"
                " (SELECT id FROM jobs WHERE requester_id <> $1) RETURNING sha256",
                user_id,
            )
            return len(touched), [row["sha256"] for row in removed]

        touched, let_go = await self.database.run(work)
        await image_store.delete_unused_quietly(self.database, let_go)
        return touched


# What a job needs only until it ends: its interaction token (15 minutes of power over its
# messages), the API's status and result URLs, and its lease.
_FORGET_SECRETS = (
    "token = '', status_url = NULL, response_url = NULL, owner = NULL, lease_until = NULL"
)


async def _attach_image(
    tx: Executor, job_id: int, image: StoredImage, sha256: str, uploaded_by: int, now: float
) -> None:
    await image_store.put(
        tx,
        sha256,
        image_format=image.format,
        width=image.width,
        height=image.height,
        data=image.data,
        now=now,
    )
    await tx.execute(
        "INSERT INTO job_images (job_id, role, sha256, uploaded_by, source_url)"
        " VALUES ($1, $2, $3, $4, $5)",
        job_id,
        image.role,
        sha256,
        uploaded_by,
        image.source_url,
    )


async def images_of(executor: Executor, job_id: int) -> dict[str, StoredImage]:
    """The images a job still has, by role (none once they are no longer kept)."""
    rows = await executor.fetch(
        "SELECT j.role, i.format, i.width, i.height, i.data, j.source_url, j.uploaded_by"
        " FROM job_images j JOIN images i ON i.sha256 = j.sha256 WHERE j.job_id = $1",
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
            uploaded_by=row["uploaded_by"],
        )
        for row in rows
    }
