"""What was spent on the image API: the ledger of billed calls, and the one query that counts
spend for the caps, the budget, /usage, /admin spend and the charts.

A row is written the moment the API answers success (with the job's move to generated) or when
a job fails after a call that may have been billed; it outlives the job and its requester's
/forget-me, and names the requester only by a keyed hash. Spend over a window is the ledger's
rows in it plus the price still reserved by unfinished (queued, running) jobs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.domain.quotas import OverQuota, QuotaRules, Spend, decide, queue_refusal, room_for

if TYPE_CHECKING:
    from bot.storage.database import Database, Executor, Row

# The fact in bot_state holding the secret of the requester keys: made once, never shown.
SECRET_FACT = "requester_key_secret"  # noqa: S105 - the name of the fact, not the secret
# Advisory lock classes (PostgreSQL) of the quota decision: the budget, a server, a user.
_BUDGET_LOCK = 7_305_012
_SERVER_LOCK = 7_305_013
_USER_LOCK = 7_305_014
_RESERVING = "'queued', 'running'"  # jobs that reserve their price until the ledger has them


@dataclass(frozen=True)
class Requester:
    """Whose spend to count: the user id finds their unfinished jobs, the key their ledger rows."""

    user_id: int
    key: str


def requester_key(secret: str, user_id: int) -> str:
    """A requester's key in the ledger: HMAC-SHA256 of their id, so that hashing every Discord
    id does not reverse it without the secret."""
    return hmac.new(secret.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


async def load_secret(tx: Executor) -> str:
    """The secret of the requester keys, made the first time it is asked for."""
    await tx.execute(
        "INSERT INTO bot_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        SECRET_FACT,
        secrets.token_hex(32),
    )
    [row] = await tx.fetch("SELECT value FROM bot_state WHERE key = $1", SECRET_FACT)
    return str(row["value"])


async def record(
    tx: Executor,
    *,
    job_id: int,
    guild_id: int | None,
    key: str,
    cost: float,
    at: float,
    billed: bool,
) -> None:
    """One call paid (or perhaps paid) for a job; a job is written once, its first answer kept."""
    await tx.execute(
        "INSERT INTO spend_ledger (job_id, guild_id, requester_key, cost, at, billed)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id) DO NOTHING",
        job_id,
        guild_id,
        key,
        cost,
        at,
        billed,
    )


async def spend_rows(
    executor: Executor,
    dialect: str,
    since: float,
    *,
    requester: Requester | None = None,
    guild_id: int | None = None,
    group: tuple[str, ...] = (),
    limit: int | None = None,
) -> list[Row]:
    """The one count of spend since `since` (one requester's, one server's), grouped by
    `group` ("day", "guild_id", "requester_id"): rows of `generations` (billed or reserved),
    `unsure` (calls that may have been billed without a result), `dollars` (all of them),
    `oldest` (the oldest generation) and `oldest_dollar` (the oldest of any)."""
    args: list[Any] = [since]
    ledger_where = "at > $1"
    jobs_where = f"created_at > $1 AND state IN ({_RESERVING})"
    if requester is not None:
        args += [requester.key, requester.user_id]
        ledger_where += f" AND requester_key = ${len(args) - 1}"
        jobs_where += f" AND requester_id = ${len(args)}"
    if guild_id is not None:
        args.append(guild_id)
        ledger_where += f" AND guild_id = ${len(args)}"
        jobs_where += f" AND guild_id = ${len(args)}"
    # A forgotten requester's rows have no job any more: they group under NULL.
    ledger_requester = "(SELECT requester_id FROM jobs WHERE id = job_id)"
    # `at` is positive: SQLite's CAST truncates, which is the floor here, while PostgreSQL's
    # CAST of a float rounds.
    day = (
        "CAST(FLOOR(at / 86400) AS BIGINT)"
        if dialect == "postgres"
        else "CAST(at / 86400 AS INTEGER)"
    )
    columns = {"day": f"{day} AS day", "guild_id": "guild_id", "requester_id": "requester_id"}
    selected = "".join(f"{columns[name]}, " for name in group)
    grouped = f" GROUP BY {', '.join(group)}" if group else ""
    order = ""
    if "day" in group:
        order = f" ORDER BY {', '.join(group)}"
    elif group:
        order = f" ORDER BY dollars DESC, {', '.join(group)}"
    limited = ""
    if limit is not None:
        args.append(limit)
        limited = f" LIMIT ${len(args)}"
    return await executor.fetch(
        "WITH counted AS ("  # noqa: S608 - every name is one of this module's constants
        f"SELECT at, cost, billed, guild_id, {ledger_requester} AS requester_id"
        f" FROM spend_ledger WHERE {ledger_where}"
        " UNION ALL SELECT created_at AS at, cost, TRUE AS billed, guild_id, requester_id"
        f" FROM jobs WHERE {jobs_where})"
        f" SELECT {selected}"
        " COALESCE(SUM(CASE WHEN billed THEN 1 ELSE 0 END), 0) AS generations,"
        " COALESCE(SUM(CASE WHEN billed THEN 0 ELSE 1 END), 0) AS unsure,"
        " COALESCE(SUM(cost), 0) AS dollars,"
        " MIN(CASE WHEN billed THEN at END) AS oldest, MIN(at) AS oldest_dollar"
        f" FROM counted{grouped}{order}{limited}",
        *args,
    )


def spend_of(row: Row) -> Spend:
    return Spend(
        int(row["generations"]),
        float(row["dollars"]),
        row["oldest"],
        unsure=int(row["unsure"]),
        oldest_dollar=row["oldest_dollar"],
    )


async def spend_in(
    executor: Executor,
    dialect: str,
    since: float,
    *,
    requester: Requester | None = None,
    guild_id: int | None = None,
) -> Spend:
    [row] = await spend_rows(executor, dialect, since, requester=requester, guild_id=guild_id)
    return spend_of(row)


async def decide_quotas(
    tx: Executor,
    dialect: str,
    rules: QuotaRules,
    requester: Requester,
    guild_id: int | None,
    interaction_id: int,
    now: float,
    *,
    count: int = 1,
) -> None:
    """Every quota decided again inside the transaction that inserts the job, after the locks
    that make it the only such decision for its budget, server and user (SQLite: the
    transaction's write lock, taken at BEGIN IMMEDIATE, serialises every writer already).
    `count` jobs are inserted together (a character's sheet): all of them must fit, and they
    wait in the queue as one request. Raises OverQuota."""
    if dialect == "postgres":
        # Always in this order (budget, server, user), so that two decisions never deadlock.
        if rules.budget is not None:
            await tx.execute("SELECT pg_advisory_xact_lock($1, 0)", _BUDGET_LOCK)
        if guild_id is not None:
            await tx.execute(
                "SELECT pg_advisory_xact_lock($1, $2)", _SERVER_LOCK, _lock_id(guild_id)
            )
        await tx.execute(
            "SELECT pg_advisory_xact_lock($1, $2)", _USER_LOCK, _lock_id(requester.user_id)
        )
    # The same interaction stored already (a retried commit whose answer was lost): decided.
    if await tx.fetch("SELECT 1 FROM jobs WHERE interaction_id = $1", interaction_id):
        return
    [queued] = await tx.fetch(
        "SELECT COUNT(*) AS n FROM jobs WHERE requester_id = $1 AND state = 'queued'",
        requester.user_id,
    )
    refusal = queue_refusal(int(queued["n"]), rules.max_queued)
    if refusal is None:
        since = now - rules.window
        mine = await spend_in(tx, dialect, since, requester=requester)
        here = None
        if rules.server_cap is not None and guild_id is not None:
            here = await spend_in(tx, dialect, since, guild_id=guild_id)
        everyone = await spend_in(tx, dialect, since) if rules.budget is not None else None
        refusal = room_for(decide(rules, mine, here, everyone), count)
    if refusal is not None:
        raise OverQuota(refusal)


def _lock_id(snowflake: int) -> int:
    """A Discord id folded into the 32-bit key of an advisory lock (a collision only makes two
    decisions wait for each other)."""
    return snowflake % 2_147_483_647


class SpendLedger:
    """The ledger's reader, for /usage, /admin spend, the charts and the early quota check."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._secret: str | None = None

    async def requester(self, user_id: int) -> Requester:
        if self._secret is None:
            self._secret = await self.database.run(load_secret)
        return Requester(user_id, requester_key(self._secret, user_id))

    async def spend_since(
        self, since: float, requester_id: int | None = None, guild_id: int | None = None
    ) -> Spend:
        """Generations and dollars counted since `since`: billed calls whatever became of them,
        calls that may have been billed (in dollars only), and the price unfinished jobs
        reserve; failed (unbilled) and cancelled jobs count nothing."""
        requester = await self.requester(requester_id) if requester_id is not None else None
        return await spend_in(
            self.database, self.database.dialect, since, requester=requester, guild_id=guild_id
        )

    async def spend_per(
        self, column: str, since: float, *, guild_id: int | None = None, limit: int = 100
    ) -> list[Row]:
        """Generations and dollars since `since` per requester_id or per guild_id (one server's
        requesters when `guild_id` is given), the most spent first. A requester who asked to
        be forgotten is a row whose requester_id is None."""
        if column not in ("requester_id", "guild_id"):
            raise ValueError(f"cannot group spend by {column!r}")
        return await spend_rows(
            self.database,
            self.database.dialect,
            since,
            guild_id=guild_id,
            group=(column,),
            limit=limit,
        )

    async def spend_per_day(
        self,
        since: float,
        *,
        requester_id: int | None = None,
        guild_id: int | None = None,
        per_server: bool = False,
    ) -> list[Row]:
        """Generations and dollars per UTC day (`day`: days since 1970-01-01) since `since`,
        counted as `spend_since` counts them; one requester's, one server's, or per server
        too (`guild_id` in each row) with `per_server`. One query, for a chart."""
        requester = await self.requester(requester_id) if requester_id is not None else None
        return await spend_rows(
            self.database,
            self.database.dialect,
            since,
            requester=requester,
            guild_id=guild_id,
            group=("day", "guild_id") if per_server else ("day",),
        )


@dataclass(frozen=True)
class Unsure:
    """A call that may have been billed without a result, written when its job fails."""

    job_id: int
    guild_id: int | None
    key: str
    cost: float
    at: float
