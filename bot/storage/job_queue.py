"""The queue every process of the bot shares, kept in the database.

Every decision to start a job is taken in one short transaction serialised on the `dispatch`
row (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE locks the whole file), with no network
call inside it: the fair order with one running job per user, the API slots, the plan's
requests per minute over a sliding window, the 429 gate and the pause. N processes together
therefore keep exactly the limits one process keeps.

A started job belongs to the process that claimed it for a lease that the process renews while
it works. Every later write of the job names the owner and the attempt (fencing), so a process
that lost its lease can no longer change it. A job whose lease ran out is taken over: a paid
one (an async ticket, a stored result) is finished by the taker, a sync call cut off goes back
to its place.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.domain import fairness
from bot.storage import cooldown_store
from bot.storage.database import Database, Executor, Row, Work
from bot.storage.job_store import (
    GENERATED,
    PAUSED,
    QUEUED,
    RUNNING,
    Job,
    StoredImage,
    images_of,
    job_from_row,
)

# Requests are counted the way the API counts them, over a sliding minute, with a little slack
# at the edge because our clock and the API's disagree by the network's delay.
WINDOW_SECONDS = 60.5
# Backoff when a 429 says nothing about when to come back.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 120.0
# Names of the leases that one process at a time holds.
CARDS_LEASE = "cards"  # refreshes the queue cards

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    max_concurrency: int  # API calls in flight, across every process
    rpm: int  # requests per sliding minute, across every process
    lease_seconds: float  # how long a claimed job stays with a process that stops renewing


@dataclass(frozen=True)
class Claim:
    """What one claim gave this process, and what it learnt of the shared state."""

    started: list[Job]  # queued → running, to be submitted now
    taken_over: list[Job]  # paid for by a process that went away: to be collected or delivered
    wake_at: float | None  # when a waiting job may start (rate window, 429 gate)
    paused: str | None
    gate_until: float
    # Every job taken from a process that went away: (id, that process, the state it is in
    # now: running or generated, or queued again when a cut-off call left nothing to collect).
    takeovers: list[tuple[int, str | None, str]] = field(default_factory=list)
    # The started jobs' images, by job id, where the claim read them (SQLite, see SharedQueue).
    images: dict[int, dict[str, StoredImage]] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """The queue as the cards show it: order, API calls in flight, recent sends, gate, pause."""

    order: list[int]  # queued job ids, next first
    jobs: dict[int, Job]  # empty unless read `with_jobs`
    in_flight: int
    sends: list[float]
    gate_until: float
    paused: str | None

    def position(self, job_id: int) -> int | None:
        try:
            return self.order.index(job_id) + 1
        except ValueError:
            return None


_FAIR_CANDIDATES = f"""
    SELECT q.requester_id AS user_id, MIN(q.id) AS first_job_id,
           COALESCE(MAX(s.served), 0) AS served
    FROM jobs q LEFT JOIN user_spells s ON s.user_id = q.requester_id
    WHERE q.state = '{QUEUED}' AND NOT EXISTS (
        SELECT 1 FROM jobs r WHERE r.requester_id = q.requester_id AND r.state = '{RUNNING}')
    GROUP BY q.requester_id
"""  # noqa: S608 - states are constants


class SharedQueue:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.last_gate_until = 0.0
        # PostgreSQL needs the row lock; SQLite's BEGIN IMMEDIATE has already locked the file.
        lock = " FOR UPDATE" if database.dialect == "postgres" else ""
        self._lock_sql = f"SELECT gate_until, gate_strikes FROM dispatch WHERE id = 1{lock}"  # noqa: S608
        # A started job's images are read in its claim on SQLite, where the transaction is one
        # trip to the database's thread and a read of its own would wait behind every other
        # trip (a burst of requests makes many); not on PostgreSQL, where the claim holds the
        # `dispatch` row that every process's claim waits for.
        self._images_with_claim = database.dialect == "sqlite"

    # Dispatch

    async def claim(
        self,
        owner: str,
        now: float | Callable[[], float],
        limits: Limits,
        *,
        start_new: bool,
        working_on: Collection[int] | None = None,
    ) -> Claim:
        """Take over jobs whose owner went away and, unless paused, held by the 429 gate or
        `start_new` is False, start the next jobs in fair order within the limits.

        `now` may be a clock: it is then read once the lock is held, so that start times
        (and the rate window) follow the order in which processes took their turns.

        Given `working_on`, the jobs the owner works on, the jobs it holds but is not working
        on are taken over too: a claim whose commit went through but whose answer was lost
        with the connection started them, and the owner's lease renewals would otherwise
        keep them from everyone for good."""

        async def work(tx: Executor) -> Claim:
            [gate] = await tx.fetch(self._lock_sql)
            return await self._claim_in(tx, gate, owner, now, limits, start_new, working_on)

        return await self.database.run(work)

    async def claim_after(
        self,
        first: Work[T],
        owner: str,
        now: float | Callable[[], float],
        limits: Limits,
        *,
        start_new: bool,
        working_on: Collection[int] | None = None,
        request_went_through: bool = False,
    ) -> tuple[T, Claim]:
        """`first`, then `claim`, in one transaction: a job that leaves its API slot in
        `first` (its result stored) hands the slot on at once, without another transaction
        or a turn of the dispatcher. `first` runs once the `dispatch` row is locked, so that
        it locks nothing a claim of another process would wait for while holding that row.
        `request_went_through`: an API request succeeded, so the next unexplained 429 starts
        the backoff afresh."""

        async def work(tx: Executor) -> tuple[T, Claim]:
            [gate] = await tx.fetch(self._lock_sql)
            done = await first(tx)
            if request_went_through and int(gate["gate_strikes"]) > 0:
                await tx.execute("UPDATE dispatch SET gate_strikes = 0 WHERE id = 1")
            claim = await self._claim_in(tx, gate, owner, now, limits, start_new, working_on)
            return done, claim

        return await self.database.run(work)

    async def _claim_in(
        self,
        tx: Executor,
        gate: Row,
        owner: str,
        now: float | Callable[[], float],
        limits: Limits,
        start_new: bool,
        working_on: Collection[int] | None,
    ) -> Claim:
        """`claim`'s work, in a transaction that holds the `dispatch` row (`gate`)."""
        if callable(now):
            now = now()
        working = None if working_on is None else frozenset(working_on)
        paused = await _paused(tx)
        takeovers: list[tuple[int, str | None, str]] = []
        taken = await self._take_over(tx, owner, now, limits.lease_seconds, working, takeovers)
        started: list[Job] = []
        wake_at: float | None = None
        gate_until = self._saw_gate(float(gate["gate_until"]))
        if start_new and paused is None:
            if gate_until > now:
                wake_at = gate_until
            else:
                started, wake_at = await self._start_next(tx, owner, now, limits)
        images = {}
        if self._images_with_claim:
            images = {job.id: await images_of(tx, job.id) for job in started}
        return Claim(started, taken, wake_at, paused, gate_until, takeovers, images)

    async def _take_over(
        self,
        tx: Executor,
        owner: str,
        now: float,
        lease_seconds: float,
        working: frozenset[int] | None,
        takeovers: list[tuple[int, str | None, str]],
    ) -> list[Job]:
        abandoned = await tx.fetch(
            "SELECT id, requester_id, state, status_url, owner, lease_until FROM jobs"
            " WHERE state IN ($1, $2) AND (lease_until IS NULL OR lease_until < $3 OR owner = $4)"
            " ORDER BY id",
            RUNNING,
            GENERATED,
            now,
            owner,
        )
        expired = []
        for row in abandoned:
            if working is not None and row["owner"] == owner and row["id"] in working:
                # Still ours, still worked on: its lease ran out only because the renewals
                # could not reach the database. Taken over here, its call would be made again
                # (a sync one paid twice) while this process still waits on the first.
                if row["lease_until"] is None or row["lease_until"] < now:
                    await tx.execute(
                        "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND owner = $3",
                        now + lease_seconds,
                        row["id"],
                        owner,
                    )
                continue
            if (
                row["lease_until"] is None
                or row["lease_until"] < now
                or (working is not None and row["owner"] == owner)
            ):
                expired.append(row)
        taken = []
        for row in expired:
            if row["state"] == RUNNING and row["status_url"] is None:
                # A sync call cut off mid-way: it may have been billed but holds no result.
                await _requeue(tx, row["id"], row["requester_id"])
                takeovers.append((row["id"], row["owner"], QUEUED))
                continue
            rows = await tx.fetch(
                "UPDATE jobs SET owner = $1, lease_until = $2, attempts = attempts + 1"
                " WHERE id = $3 RETURNING *",
                owner,
                now + lease_seconds,
                row["id"],
            )
            taken.extend(job_from_row(r) for r in rows)
            takeovers.extend((r["id"], row["owner"], r["state"]) for r in rows)
        return taken

    async def _start_next(
        self, tx: Executor, owner: str, now: float, limits: Limits
    ) -> tuple[list[Job], float | None]:
        [running] = await tx.fetch("SELECT COUNT(*) AS n FROM jobs WHERE state = $1", RUNNING)
        free_slots = limits.max_concurrency - int(running["n"])
        if free_slots <= 0:
            # Nothing can start until a slot frees, and whichever job frees it claims then
            # (and wakes the others): the rate window and the spells can wait for that claim.
            # Most claims of a burst of requests end here, in a few statements.
            return [], None
        # Users with nothing queued or running start their next spell afresh.
        await tx.execute(
            "DELETE FROM user_spells WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE"
            " jobs.requester_id = user_spells.user_id AND jobs.state IN ($1, $2))",
            QUEUED,
            RUNNING,
        )
        await tx.execute("DELETE FROM api_sends WHERE sent_at <= $1", now - WINDOW_SECONDS)
        sends = [r["sent_at"] for r in await tx.fetch("SELECT sent_at FROM api_sends")]
        sends.sort()
        # A process that read its clock before waiting for the lock starts its jobs after the
        # ones started by the process it waited for: start times follow the order of starts.
        now = max(now, sends[-1]) if sends else now
        free_sends = limits.rpm - len(sends)
        count = min(free_slots, free_sends)
        started: list[Job] = []
        if count > 0:
            candidates = [
                fairness.Candidate(r["user_id"], r["first_job_id"], int(r["served"]))
                for r in await tx.fetch(_FAIR_CANDIDATES)
            ]
            for chosen in fairness.pick(candidates, count):
                rows = await tx.fetch(
                    "UPDATE jobs SET state = $1, owner = $2, lease_until = $3, started_at = $4,"
                    " attempts = attempts + 1 WHERE id = $5 AND state = $6 RETURNING *",
                    RUNNING,
                    owner,
                    now + limits.lease_seconds,
                    now,
                    chosen.first_job_id,
                    QUEUED,
                )
                if not rows:
                    continue
                started.append(job_from_row(rows[0]))
                sends.append(now)
                await tx.execute("INSERT INTO api_sends (sent_at) VALUES ($1)", now)
                await tx.execute(
                    "INSERT INTO user_spells (user_id, served) VALUES ($1, 1) ON CONFLICT"
                    " (user_id) DO UPDATE SET served = user_spells.served + 1",
                    chosen.user_id,
                )
        wake_at = None
        if len(sends) >= limits.rpm:
            # The next send waits for the one `rpm` places back to leave the window.
            wake_at = sends[len(sends) - limits.rpm] + WINDOW_SECONDS
        return started, wake_at

    async def requeue(self, job: Job, *, refund_cooldown: bool = False) -> bool:
        """running → queued, keeping its place (a 429, or a pause): only by the job's owner.
        `refund_cooldown`: nothing was billed (a pause), the cooldown it started is given back."""

        async def work(tx: Executor) -> bool:
            rows = await tx.fetch(
                "SELECT id FROM jobs WHERE id = $1 AND state = $2 AND owner = $3 AND attempts = $4",
                job.id,
                RUNNING,
                job.owner,
                job.attempts,
            )
            if rows:
                await _requeue(tx, job.id, job.requester_id)
                if refund_cooldown:
                    await cooldown_store.give_back(tx, job.id)
            return bool(rows)

        return await self.database.run(work)

    # Leases

    async def renew(self, owner: str, now: float, lease_seconds: float) -> int:
        """Extend the lease of every job this process works on; returns how many."""
        rows = await self.database.fetch(
            "UPDATE jobs SET lease_until = $1 WHERE owner = $2 AND state IN ($3, $4) RETURNING id",
            now + lease_seconds,
            owner,
            RUNNING,
            GENERATED,
        )
        return len(rows)

    async def still_owns(self, job: Job) -> bool:
        """Whether `job` is still this attempt's (no other process took it over)."""
        rows = await self.database.fetch(
            "SELECT 1 FROM jobs WHERE id = $1 AND owner = $2 AND attempts = $3"
            " AND state IN ($4, $5)",
            job.id,
            job.owner,
            job.attempts,
            RUNNING,
            GENERATED,
        )
        return bool(rows)

    async def release(self, owner: str, job_ids: Iterable[int] | None = None) -> int:
        """Give back this process's jobs (all, or `job_ids`) so that another finishes them at
        once: a sync call cut off goes back to its place, a paid one is left to be taken over."""
        wanted = None if job_ids is None else set(job_ids)

        async def work(tx: Executor) -> int:
            rows = await tx.fetch(
                "SELECT id, requester_id, state, status_url FROM jobs"
                " WHERE owner = $1 AND state IN ($2, $3)",
                owner,
                RUNNING,
                GENERATED,
            )
            released = 0
            for row in rows:
                if wanted is not None and row["id"] not in wanted:
                    continue
                if row["state"] == RUNNING and row["status_url"] is None:
                    await _requeue(tx, row["id"], row["requester_id"])
                else:
                    await tx.execute(
                        "UPDATE jobs SET owner = NULL, lease_until = 0 WHERE id = $1", row["id"]
                    )
                released += 1
            return released

        return await self.database.run(work)

    async def hold(self, name: str, owner: str, now: float, seconds: float) -> bool:
        """Take or keep the lease `name` (one process at a time); False if another holds it."""
        rows = await self.database.fetch(
            "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3) ON CONFLICT (name)"
            " DO UPDATE SET owner = excluded.owner, until = excluded.until"
            " WHERE leases.owner = excluded.owner OR leases.until < $4 RETURNING owner",
            name,
            owner,
            now + seconds,
            now,
        )
        return bool(rows)

    async def others_hold(self, prefix: str, owner: str, now: float) -> bool:
        """Whether another process holds a live lease whose name starts with `prefix`."""
        rows = await self.database.fetch(
            "SELECT 1 FROM leases WHERE name LIKE $1 AND owner <> $2 AND until > $3 LIMIT 1",
            prefix + "%",
            owner,
            now,
        )
        return bool(rows)

    async def let_go(self, name: str, owner: str) -> None:
        await self.database.execute(
            "UPDATE leases SET until = 0 WHERE name = $1 AND owner = $2", name, owner
        )

    # The 429 gate

    async def close_gate(self, retry_at: float | None, now: float) -> float:
        """Hold every process's requests until `retry_at` (or a backoff when the API gave no
        time); returns when the gate opens again."""

        async def work(tx: Executor) -> float:
            [gate] = await tx.fetch(self._lock_sql)
            strikes = int(gate["gate_strikes"])
            until = retry_at
            if until is None:
                delay = min(BACKOFF_BASE_SECONDS * 2**strikes, BACKOFF_MAX_SECONDS)
                until = now + delay * random.uniform(0.75, 1.25)
                strikes += 1
            until = self._saw_gate(max(float(gate["gate_until"]), until))
            await tx.execute(
                "UPDATE dispatch SET gate_until = $1, gate_strikes = $2 WHERE id = 1",
                until,
                strikes,
            )
            return until

        return await self.database.run(work)

    # The pause

    async def pause(self, reason: str) -> bool:
        """Hold every job until `lift_pause`; True if this call paused (it was not before)."""

        async def work(tx: Executor) -> bool:
            # In turn with the claims: one that read "not paused" ends before the pause, so it
            # cannot start the job that met the answer once that job is back in the queue.
            await tx.fetch(self._lock_sql)
            rows = await tx.fetch(
                "INSERT INTO bot_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
                " RETURNING key",
                PAUSED,
                reason,
            )
            return bool(rows)

        return await self.database.run(work)

    async def lift_pause(self) -> None:
        await self.database.execute("DELETE FROM bot_state WHERE key = $1", PAUSED)

    async def paused(self) -> str | None:
        return await _paused(self.database)

    async def gate_until(self) -> float:
        [gate] = await self.database.fetch("SELECT gate_until FROM dispatch WHERE id = 1")
        return self._saw_gate(float(gate["gate_until"]))

    def _saw_gate(self, until: float) -> float:
        """Remember when the gate opens, as last read: the quick checks before a deferral."""
        self.last_gate_until = until
        return until

    # What the cards and commands read

    async def snapshot(self, now: float, *, with_jobs: bool = True) -> Snapshot:
        """The queue as the cards show it. Without `with_jobs` its `jobs` stay empty: a new
        card or a queue length needs only the order, and reading every queued row in full
        for each request of a burst made it quadratic."""
        columns = "*" if with_jobs else "id, requester_id"
        queued = await self.database.fetch(
            f"SELECT {columns} FROM jobs WHERE state = $1 ORDER BY id",  # noqa: S608
            QUEUED,
        )
        spells = await self.database.fetch("SELECT user_id, served FROM user_spells")
        [running] = await self.database.fetch(
            "SELECT COUNT(*) AS n FROM jobs WHERE state = $1", RUNNING
        )
        sends = await self.database.fetch(
            "SELECT sent_at FROM api_sends WHERE sent_at > $1 ORDER BY sent_at",
            now - WINDOW_SECONDS,
        )
        [gate] = await self.database.fetch("SELECT gate_until FROM dispatch WHERE id = 1")
        jobs = {row["id"]: job_from_row(row) for row in queued} if with_jobs else {}
        served = {row["user_id"]: int(row["served"]) for row in spells}
        return Snapshot(
            order=fairness.order(((r["id"], r["requester_id"]) for r in queued), served),
            jobs=jobs,
            in_flight=int(running["n"]),
            sends=[float(row["sent_at"]) for row in sends],
            gate_until=float(gate["gate_until"]),
            paused=await _paused(self.database),
        )

    async def queued_of(self, user_id: int) -> list[int]:
        """A user's queued job ids, oldest first."""
        rows = await self.database.fetch(
            "SELECT id FROM jobs WHERE requester_id = $1 AND state = $2 ORDER BY id",
            user_id,
            QUEUED,
        )
        return [row["id"] for row in rows]

    async def note_card(self, job_id: int, card: str) -> bool:
        """Remember what a queued job's card shows; False if it is no longer queued."""
        rows = await self.database.fetch(
            "UPDATE jobs SET card = $1 WHERE id = $2 AND state = $3 RETURNING id",
            card,
            job_id,
            QUEUED,
        )
        return bool(rows)


async def _paused(executor: Executor) -> str | None:
    rows: list[Row] = await executor.fetch("SELECT value FROM bot_state WHERE key = $1", PAUSED)
    return rows[0]["value"] if rows else None


async def _requeue(tx: Executor, job_id: int, requester_id: int) -> None:
    """Back to its place in the queue, not counted as a start of its user's spell."""
    await tx.execute(
        "UPDATE jobs SET state = $1, owner = NULL, lease_until = NULL, started_at = NULL,"
        " card = NULL WHERE id = $2",
        QUEUED,
        job_id,
    )
    await tx.execute(
        "UPDATE user_spells SET served = served - 1 WHERE user_id = $1 AND served > 0",
        requester_id,
    )
