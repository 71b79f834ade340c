"""Faults on the way: Discord's 5xx, 429 and dropped connections on every path a result or a
notice takes, a PostgreSQL failover during every store operation of a job's life, SQLite's
write lock held by another process, and background loops that fail.

Whatever fails, a paid result reaches its requester exactly once, nothing is paid for twice,
and no job is left unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import discord.http
import discord.webhook.async_
import pytest

from bot import tasks
from bot.engine import job as job_life
from bot.posebot import PoseBot
from bot.storage import database as db
from bot.storage.job_queue import SharedQueue
from bot.storage.job_store import DELIVERED, FAILED, QUEUED, RUNNING, UNFINISHED, JobStore
from bot.tasks import TaskGroup
from tests.cogs.admin.test_server_admin_e2e import admin
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import DISCORD_FAULT_KINDS, FakeDiscord, FakeInteraction, RouteFamily
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import card_text, delivered, pose, private_text

T = TypeVar("T")

# More faults in a row than discord.py absorbs by itself (it tries a webhook call five times):
# only the bot's own retries get a result through.
FAULTS_IN_A_ROW = 5
# discord.py waits 1 s, 3 s, 5 s … between its own tries, and the bot from 1 s up: both run
# this much faster here. What is tried again, and how often, is unchanged.
TIME_SCALE = 0.01
GENERATION_SECONDS = 0.15  # long enough to expire the token or arm a fault mid-generation


class _ScaledSleeps:
    """The asyncio module as a library module sees it, with shorter sleeps."""

    def __init__(self, scale: float) -> None:
        self._scale = scale

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        return await asyncio.sleep(delay * self._scale, result)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (discord.http, discord.webhook.async_):
        monkeypatch.setattr(module, "asyncio", _ScaledSleeps(TIME_SCALE))
    base = job_life.DELIVERY_RETRY_BASE_SECONDS * TIME_SCALE
    monkeypatch.setattr(job_life, "DELIVERY_RETRY_BASE_SECONDS", base)


# -- Discord failing on the way to the user --------------------------------------------------------

# The ways a result reaches its requester, and the route each takes there.
PATHS: dict[str, RouteFamily] = {
    "card": "interaction_edit",  # the card becomes the result while the token lives
    "channel": "channel_post",  # after the token: a post in the channel
    "dm": "dm_post",  # after the token, for a server whose results are private
    "dm-open": "dm_open",  # the same, failing while the DM channel is opened
}
# The ways a failure notice reaches its requester.
NOTICE_PATHS: dict[str, RouteFamily] = {
    "card": "interaction_followup",
    "channel": "channel_post",
    "dm": "dm_post",
}


# A request whose interaction token is dead by the time its job is stored, as if it had
# waited out the token's 15 minutes in the queue. The bot's clock is left alone: leases use it.
TOKEN_DEAD_ON_ARRIVAL = (
    "CREATE TRIGGER token_dead AFTER INSERT ON jobs"
    " BEGIN UPDATE jobs SET token_expires_at = 0 WHERE id = NEW.id; END"
)


async def generating(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    path: str,
) -> tuple[PoseBot, FakeInteraction]:
    """A request on its way to `path`, being generated: its token dead unless the path is the
    card, its server's results private for a DM."""
    segmind.latency = GENERATION_SECONDS
    bot = await start_bot()
    if path.startswith("dm"):
        await admin(discord_api, "results", private=True)
    if path != "card":
        await bot.store.database.execute(TOKEN_DEAD_ON_ARRIVAL)
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    if path == "card":
        await interaction.wait_for(lambda i: card_text(i).startswith("🎨"))
    else:
        interaction.expired = True
    return bot, interaction


def results(discord_api: FakeDiscord, path: str, interaction: FakeInteraction) -> list[Any]:
    """Where the user finds the result on `path`: every message there that carries one."""
    if path == "card":
        card = interaction.original
        return [card] if card is not None and card.files and not card.deleted else []
    if path == "channel":
        posted = discord_api.channel_messages
        here = [m for m in posted if m.channel_id == FakeDiscord.CHANNEL_ID]
        return [m for m in here if m.files and not m.deleted]
    user_id = int(interaction.user["id"])
    return [m for m in discord_api.dm_messages(user_id) if m.files and not m.deleted]


async def nothing_unfinished(store: JobStore) -> None:
    unfinished = await store.jobs(UNFINISHED)
    assert unfinished == [], [(job.id, job.state, job.owner) for job in unfinished]


# The quick set meets each fault and each path once; the slow set every pair.
QUICK_RESULT_FAULTS = {
    ("card", "503"),
    ("channel", "500"),
    ("dm", "429"),
    ("dm-open", "429-cloudflare"),
    ("card", "drop"),
    ("channel", "drop-after"),
}
QUICK_NOTICE_FAULTS = {
    ("card", "503"),
    ("channel", "429-cloudflare"),
    ("dm", "drop"),
    ("channel", "drop-after"),
}


def slow_unless(pair: tuple[str, str], quick: set[tuple[str, str]]) -> Any:
    return pytest.param(*pair, marks=() if pair in quick else pytest.mark.slow)


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        slow_unless((path, fault), QUICK_RESULT_FAULTS)
        for path in PATHS
        for fault in DISCORD_FAULT_KINDS
    ],
)
async def test_a_result_gets_through_discord_faults_exactly_once(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, path: str, fault: Any
) -> None:
    bot, interaction = await generating(start_bot, discord_api, segmind, path)
    discord_api.faults.fail_next(PATHS[path], fault, times=FAULTS_IN_A_ROW)

    [job] = await stored_jobs(bot.store, DELIVERED, timeout=20)
    assert discord_api.faults.count() == FAULTS_IN_A_ROW, "every fault met the delivery"
    [result] = results(discord_api, path, interaction)
    assert job.result_message_id == result.id
    assert discord_api.messages_with_files() == [result], "one result, nowhere else"
    assert segmind.billed == 1
    await nothing_unfinished(bot.store)
    assert await figures(bot.store, segmind, discord_api) == NOTHING_LOST


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        slow_unless((path, fault), QUICK_NOTICE_FAULTS)
        for path in NOTICE_PATHS
        for fault in ("503", "429-cloudflare", "drop", "drop-after")
        # A private followup carries no nonce: one whose answer was lost shows twice, to
        # its requester alone.
        if (path, fault) != ("card", "drop-after")
    ],
)
async def test_a_failure_notice_gets_through_discord_faults(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, path: str, fault: Any
) -> None:
    refusal = "the prompt breaks the rules"
    segmind.faults.append(Fault(status=400, body={"error": refusal}, delay=GENERATION_SECONDS))
    bot, interaction = await generating(start_bot, discord_api, segmind, path)
    discord_api.faults.fail_next(NOTICE_PATHS[path], fault, times=FAULTS_IN_A_ROW)

    await stored_jobs(bot.store, FAILED, timeout=20)
    user_id = int(interaction.user["id"])

    def notices() -> list[str]:
        if path == "card":
            sent = [m for m in interaction.followups if m.ephemeral]
        elif path == "dm":
            sent = discord_api.dm_messages(user_id)
        else:
            posted = discord_api.channel_messages
            sent = [m for m in posted if m.channel_id == FakeDiscord.CHANNEL_ID]
        return [m.content or "" for m in sent if not m.deleted]

    await discord_api.wait_for(lambda: not bot.runner.job_ids(), timeout=20)  # told
    [notice] = notices()
    assert refusal in notice
    assert discord_api.faults.count() == FAULTS_IN_A_ROW
    assert discord_api.messages_with_files() == []
    assert segmind.billed == 0
    await nothing_unfinished(bot.store)


async def test_a_result_that_discord_keeps_refusing_is_delivered_after_a_restart(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot, interaction = await generating(start_bot, discord_api, segmind, "channel")
    discord_api.faults.fail_next("channel_post", "503", times=1000)  # an outage
    await discord_api.wait_for(lambda: discord_api.faults.count() >= 3, timeout=20)
    await asyncio.wait_for(bot.shutdown(grace=0.2), timeout=15)
    discord_api.faults.clear()

    restarted = await start_bot()
    [job] = await stored_jobs(restarted.store, DELIVERED, timeout=20)
    [result] = results(discord_api, "channel", interaction)
    assert job.result_message_id == result.id
    assert segmind.billed == 1, "delivered, never generated again"
    await nothing_unfinished(restarted.store)
    assert await figures(restarted.store, segmind, discord_api) == NOTHING_LOST


# -- What a run leaves behind ------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """What users got for what was paid: each job's prompt is its own, so that billed
    generations and posted results can be matched up."""

    paid_but_undelivered: int
    paid_twice: int
    delivered_twice: int
    stuck: int  # jobs left queued, running or generated


async def figures(store: JobStore, segmind: FakeSegmind, discord_api: FakeDiscord) -> Figures:
    paid = Counter(s.body["prompt"] for s in segmind.submits if s.status == 200)
    posted = Counter(
        message.embeds[0]["description"]
        for message in discord_api.messages_with_files()
        if message.embeds
    )
    return Figures(
        paid_but_undelivered=sum(1 for prompt in paid if not posted[prompt]),
        paid_twice=sum(count - 1 for count in paid.values()),
        delivered_twice=sum(count - 1 for count in posted.values()),
        stuck=len(await store.jobs(UNFINISHED)),
    )


NOTHING_LOST = Figures(paid_but_undelivered=0, paid_twice=0, delivered_twice=0, stuck=0)


# -- PostgreSQL failing over during a job's life -------------------------------------------------

# Statements run inside a marked store operation carry the mark as a comment, so that the
# server's pg_stat_activity tells which operation a statement belongs to.
_MARK: contextvars.ContextVar[str | None] = contextvars.ContextVar("mark", default=None)


@pytest.fixture
def marked_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    for runs_statements in (db.PostgresDatabase, db._PostgresTransaction):
        for name in ("fetch", "execute"):
            monkeypatch.setattr(runs_statements, name, _marking(getattr(runs_statements, name)))


def _marking(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    async def marked(self: object, sql: str, *args: Any) -> T:
        mark = _MARK.get()
        return await method(self, sql if mark is None else f"/* {mark} */ {sql}", *args)

    return marked


JOBS_IN_CHAOS = 6
KILLING_SECONDS = 2.0
KILL_EVERY_SECONDS = 0.1


async def kill_again_and_again(failover: Failover, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await failover.kill()
        await asyncio.sleep(KILL_EVERY_SECONDS)


class Failover:
    """Ends the bot's PostgreSQL connections as a managed database's failover does: only the
    bot's own, which carry an application_name of their own (other suites may share the
    server)."""

    def __init__(self, url: str, admin: asyncpg.Connection) -> None:
        self.name = f"posebot-faults-{secrets.token_hex(4)}"
        self.url = url
        self.bot_url = f"{url}&application_name={self.name}"  # asyncpg sends it as a setting
        self.killed = 0  # connections ended so far
        self._admin = admin

    async def kill(self) -> int:
        rows = await self._admin.fetch(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = $1"
            " AND pid <> pg_backend_pid()",
            self.name,
        )
        ended = sum(1 for row in rows if row["ended"])
        self.killed += ended
        return ended

    async def during(self, run: Awaitable[T], mark: str, operation: StoreOperation) -> T:
        """Await `run` and end the bot's connections while its statement runs on the server:
        another connection locks the table it writes, so the statement waits there."""
        blocker = await asyncpg.connect(self.url)
        try:
            async with blocker.transaction():
                await blocker.execute(f"LOCK TABLE {operation.table} IN EXCLUSIVE MODE")
                task = asyncio.ensure_future(run)
                await self._until_waiting(mark, task)
                await self.kill()
            return await task
        finally:
            await blocker.close()

    async def _until_waiting(self, mark: str, task: asyncio.Future[Any]) -> None:
        deadline = time.monotonic() + 10
        while not await self._admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            " AND wait_event_type = 'Lock' AND query LIKE $2",
            self.name,
            f"%{mark}%",
        ):
            if task.done():
                await task
                raise AssertionError(f"{mark}: ended without waiting for the lock")
            if time.monotonic() > deadline:
                raise AssertionError(f"{mark}: never reached the database")
            await asyncio.sleep(0.005)


@pytest.fixture
async def failover(database_url: str) -> AsyncIterator[Failover]:
    if not database_url.startswith("postgres"):
        pytest.skip("a failover is PostgreSQL's")
    admin = await asyncpg.connect(database_url)
    try:
        yield Failover(database_url, admin)
    finally:
        await admin.close()


async def nothing_started(database: db.Database) -> bool:
    return not await database.fetch("SELECT 1 FROM jobs WHERE state <> $1", QUEUED)


async def a_job_runs(database: db.Database) -> bool:
    return bool(await database.fetch("SELECT 1 FROM jobs WHERE state = $1", RUNNING))


@dataclass(frozen=True)
class StoreOperation:
    """A store operation of a job's life, and how to make a job's life go through it."""

    owner: type
    name: str
    table: str = "jobs"  # what its statement writes, locked to catch it on the server
    settings: dict[str, Any] = field(default_factory=dict)
    api_fault: Callable[[], Fault] | None = None  # what the fake Segmind answers first
    latency: float = GENERATION_SECONDS
    # For an operation that also runs when no job needs it (a loop's): the fault waits for
    # this to hold, and with `every_run`, meets every run while it holds.
    armed: Callable[[db.Database], Awaitable[bool]] | None = None
    every_run: bool = False
    # Which of its answers is worth losing: the one that did what the job needs.
    answer_matters: Callable[[Any], bool] = lambda answer: True
    ends: str = DELIVERED
    card_showed: str | None = None  # what the job's card said on the way, if it matters


STORE_OPERATIONS = {
    "add_job": StoreOperation(JobStore, "add_job"),
    # Every claim until one starts the job: so that one surely met the fault.
    "claim": StoreOperation(
        SharedQueue,
        "claim",
        table="dispatch",
        armed=nothing_started,
        every_run=True,
        answer_matters=lambda claim: bool(claim.started),
    ),
    "set_ticket": StoreOperation(JobStore, "set_ticket", settings={"segmind_mode": "async"}),
    "save_result": StoreOperation(JobStore, "save_result"),
    "mark_delivered": StoreOperation(JobStore, "mark_delivered"),
    "fail": StoreOperation(
        JobStore, "fail", api_fault=lambda: Fault(status=400, body={"error": "no"}), ends=FAILED
    ),
    "requeue": StoreOperation(
        SharedQueue,
        "requeue",
        api_fault=lambda: Fault.rate_limited(retry_after=0.3),
        card_showed="⏳ The image service is busy",
    ),
    "renew": StoreOperation(
        SharedQueue, "renew", settings={"job_lease_seconds": 1.5}, latency=1.5, armed=a_job_runs
    ),
}

# A lease running out and a rate-limit wait are the slowest lives: the slow set has them.
OPERATIONS = [
    pytest.param(name, marks=pytest.mark.slow) if name in ("renew", "requeue") else name
    for name in STORE_OPERATIONS
]

# What happens to a store operation: given its run (to await), its mark, and the operation.
OperationFault = Callable[[Awaitable[Any], str, StoreOperation], Awaitable[Any]]


def fault_during(
    monkeypatch: pytest.MonkeyPatch,
    operation: StoreOperation,
    database: Callable[[], db.Database],
    fault: OperationFault,
) -> list[str]:
    """Make the first run of `operation` go through `fault`, its statements marked; returns
    a list of the runs that did."""
    real = getattr(operation.owner, operation.name)
    mark = f"fault-during-{operation.name}"
    happened: list[str] = []

    async def faulty(self: Any, *args: Any, **kwargs: Any) -> Any:
        if happened and not operation.every_run:
            return await real(self, *args, **kwargs)
        if operation.armed is not None and not await operation.armed(database()):
            return await real(self, *args, **kwargs)
        if happened and not operation.every_run:
            return await real(self, *args, **kwargs)
        happened.append(mark)
        token = _MARK.set(mark)
        try:
            return await fault(real(self, *args, **kwargs), mark, operation)
        finally:
            _MARK.reset(token)

    monkeypatch.setattr(operation.owner, operation.name, faulty)
    return happened


# The answers lost in the current run of a faulty operation, and which are worth losing.
_ANSWERS_LOST: contextvars.ContextVar[tuple[list[str], Callable[[Any], bool]] | None] = (
    contextvars.ContextVar("answers_lost", default=None)
)


def lose_the_answer(monkeypatch: pytest.MonkeyPatch) -> OperationFault:
    """A fault in which the database does the work but its answer is lost: the connection
    ends between the server's commit and its reply, so the driver says the connection was
    lost, and the bot tries again what was done already."""
    retried = db.retried

    async def answer_lost(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        losing = _ANSWERS_LOST.get()
        if losing is None or losing[0]:
            return await retried(what, attempt)
        lost, matters = losing

        async def commit_then_lose() -> T:
            answer = await attempt()
            if not lost and matters(answer):
                lost.append(what)
                raise asyncpg.ConnectionDoesNotExistError(
                    "connection was closed in the middle of operation"
                )
            return answer

        return await retried(what, commit_then_lose)

    monkeypatch.setattr(db, "retried", answer_lost)

    async def fault(run: Awaitable[Any], mark: str, operation: StoreOperation) -> Any:
        lost: list[str] = []
        token = _ANSWERS_LOST.set((lost, operation.answer_matters))
        try:
            answer = await run
        finally:
            _ANSWERS_LOST.reset(token)
        assert lost or operation.every_run, f"{mark}: no answer was lost"
        return answer

    return fault


async def one_life_through(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    failover: Failover,
    name: str,
    fault: OperationFault,
) -> None:
    """One job whose life goes through the store operation `name`, which meets `fault`."""
    operation = STORE_OPERATIONS[name]
    segmind.latency = operation.latency
    if operation.api_fault is not None:
        segmind.faults.append(operation.api_fault())
    bot = await start_bot(database_url=failover.bot_url, **operation.settings)
    happened = fault_during(monkeypatch, operation, lambda: bot.store.database, fault)
    interaction = await pose(discord_api, prompt=f"through {name}")

    await stored_jobs(bot.store, operation.ends, timeout=20)
    assert happened, f"the job's life did not go through {name}"
    if operation.ends == FAILED:
        await interaction.wait_for(lambda i: private_text(i) is not None)
        assert "refused this request: no" in (private_text(interaction) or "")
        assert segmind.billed == 0
    else:
        assert len(results(discord_api, "card", interaction)) == 1
        assert segmind.billed == 1
    if operation.card_showed is not None:
        assert interaction.original is not None
        said = [edit.get("content") or "" for edit in interaction.original.edits]
        assert any(text.startswith(operation.card_showed) for text in said), said
    assert await figures(bot.store, segmind, discord_api) == NOTHING_LOST


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.usefixtures("marked_statements")
async def test_a_failover_during_each_store_operation_loses_nothing(
    failover: Failover,  # first: the database outlives the bot
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
) -> None:
    await one_life_through(
        start_bot, discord_api, segmind, monkeypatch, failover, operation, failover.during
    )
    assert failover.killed >= 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_a_commit_whose_answer_is_lost_is_not_done_twice(
    failover: Failover,  # first: the database outlives the bot
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    operation: str,
) -> None:
    fault = lose_the_answer(monkeypatch)
    await one_life_through(start_bot, discord_api, segmind, monkeypatch, failover, operation, fault)
    assert any("database connection lost" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("mode", ["sync", pytest.param("async", marks=pytest.mark.slow)])
async def test_failovers_every_moment_while_jobs_run_lose_nothing(
    failover: Failover,  # first: the database outlives the bot
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    mode: str,
) -> None:
    segmind.latency = 0.3
    bot = await start_bot(
        database_url=failover.bot_url,
        segmind_mode=mode,
        segmind_max_concurrency=3,
        segmind_rpm=600,
        job_lease_seconds=3,
    )
    users = [discord_api.make_user(700 + n, f"user{n}") for n in range(JOBS_IN_CHAOS)]
    killing = asyncio.create_task(kill_again_and_again(failover, seconds=KILLING_SECONDS))
    interactions = [
        await pose(discord_api, user=user, prompt=f"job {n}") for n, user in enumerate(users)
    ]
    await killing
    for interaction in interactions:
        await delivered(interaction, timeout=30)
    await stored_jobs(bot.store, DELIVERED, count=JOBS_IN_CHAOS, timeout=30)
    assert failover.killed > 10
    assert await figures(bot.store, segmind, discord_api) == NOTHING_LOST


# -- SQLite locked by another process --------------------------------------------------------------

BUSY_TIMEOUT_SECONDS = 5.0  # bot/database.py's PRAGMA busy_timeout


@contextlib.contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process holding SQLite's write lock (BEGIN IMMEDIATE) until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.slow  # waits out SQLite's busy timeout; the next test is the quick one
async def test_jobs_outlast_another_process_holding_sqlites_lock(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path
) -> None:
    # The first request is generated while the file is locked, the second asked for then.
    segmind.faults.append(Fault(kind="slow", delay=BUSY_TIMEOUT_SECONDS + 1.5))
    bot = await start_bot(user_cooldown_seconds=0)
    first = await pose(discord_api, prompt="generated while locked")
    await first.wait_for(lambda i: card_text(i).startswith("🎨"))
    with write_lock(tmp_path / "bot.db") as other:
        # Longer than the bot waits for the lock: its writes fail "database is locked" in
        # the meantime (the new request, the queue's cards and leases).
        second = await pose(discord_api, prompt="asked while locked")
        await asyncio.sleep(BUSY_TIMEOUT_SECONDS + 1)
        [(stored,)] = other.execute("SELECT COUNT(*) FROM jobs").fetchall()
        assert stored == 1, "the second request waits to be stored"
    for interaction in (first, second):
        await delivered(interaction, timeout=30)
    await stored_jobs(bot.store, DELIVERED, count=2, timeout=20)
    assert await figures(bot.store, segmind, discord_api) == NOTHING_LOST


async def test_a_transaction_cut_off_while_waiting_for_sqlites_lock_leaves_no_lock_behind(
    tmp_path: Path,
) -> None:
    # A shutdown cancels whatever waits: here, a transaction's BEGIN waiting for the lock.
    path = tmp_path / "cut.db"
    database = await db.connect(f"sqlite:///{path}")
    await database.execute("CREATE TABLE t (n INTEGER)")
    try:
        with write_lock(path):
            waiting = asyncio.create_task(
                database.run(lambda tx: tx.execute("INSERT INTO t VALUES (1)"))
            )
            await asyncio.sleep(0.2)
            waiting.cancel()
        # The lock is free: the BEGIN that was waiting for it now gets it.
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(database.run(lambda tx: tx.execute("INSERT INTO t VALUES (2)")), 3)
        other = sqlite3.connect(path, timeout=1)
        other.execute("INSERT INTO t VALUES (3)")  # the file is not left locked
        other.commit()
        other.close()
        assert [row["n"] for row in await database.fetch("SELECT n FROM t ORDER BY n")] == [2, 3]
    finally:
        await database.close()


# -- Background loops ------------------------------------------------------------------------------


async def test_a_dispatcher_whose_claim_fails_logs_it_and_keeps_dispatching(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    claim = SharedQueue.claim
    calls: list[int] = []

    async def failing_once(self: SharedQueue, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database said no")
        return await claim(self, *args, **kwargs)

    monkeypatch.setattr(SharedQueue, "claim", failing_once)
    caplog.set_level(logging.ERROR)
    await start_bot()
    await delivered(await pose(discord_api))
    [failure] = [r for r in caplog.records if "dispatcher failed" in r.getMessage()]
    assert failure.exc_info is not None and "the database said no" in str(failure.exc_info[1])
    assert segmind.billed == 1


@pytest.mark.slow  # waits out a lease; the dispatcher's failing claim is the quick one
async def test_a_lease_renewal_that_fails_is_logged_and_renewed_again(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # If the renewing loop died, the job's lease would run out mid-generation and the job be
    # taken over: a sync call made again, and paid twice.
    renew = SharedQueue.renew
    calls: list[int] = []

    async def failing_once(self: SharedQueue, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database said no")
        return await renew(self, *args, **kwargs)

    monkeypatch.setattr(SharedQueue, "renew", failing_once)
    monkeypatch.setattr(tasks, "RESTART_BASE_SECONDS", 0.05)
    caplog.set_level(logging.ERROR)
    segmind.latency = 2.0  # longer than a lease
    bot = await start_bot(job_lease_seconds=1.5)  # renewed every 0.5 s
    await delivered(await pose(discord_api), timeout=20)
    # The user sees the result a moment before the database records its delivery.
    await stored_jobs(bot.store, DELIVERED)
    assert any("job-leases failed" in r.getMessage() for r in caplog.records)
    assert len(calls) >= 3, "renewed after the failure"
    assert segmind.billed == 1
    assert await figures(bot.store, segmind, discord_api) == NOTHING_LOST


async def test_a_job_whose_lease_ran_out_in_its_own_process_is_not_started_again(
    database_url: str,
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # While the database is away (a failover, a loaded machine) the renewals do not reach it
    # and a job's lease runs out mid-call. The process still waits on that call: its own next
    # claim must not put the job back in the queue and call the API for it again.
    async def renewals_that_never_arrive(self: SharedQueue, *args: Any, **kwargs: Any) -> int:
        return 0

    monkeypatch.setattr(SharedQueue, "renew", renewals_that_never_arrive)
    segmind.latency = 2.0  # twice the lease
    bot = await start_bot(
        database_url=database_url, job_lease_seconds=1.0, segmind_max_concurrency=2
    )
    first = await pose(discord_api, user=discord_api.make_user(801, "first"), prompt="first")
    await first.wait_for(lambda i: card_text(i).startswith("🎨"))
    await asyncio.sleep(1.2)  # the first job's lease has run out
    # A new request makes the process claim: the expired job is in sight of the claim.
    second = await pose(discord_api, user=discord_api.make_user(802, "second"), prompt="second")
    await delivered(first, timeout=20)
    await delivered(second, timeout=20)
    await stored_jobs(bot.store, DELIVERED, count=2)
    assert segmind.billed == 2, "each job called the API once"
    assert await figures(bot.store, segmind, discord_api) == NOTHING_LOST


async def test_a_background_task_that_fails_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    group = TaskGroup()

    async def fails() -> None:
        raise RuntimeError("nobody awaits me")

    task = group.spawn(fails(), "orphan")
    await asyncio.wait([task])
    await asyncio.sleep(0)
    assert len(group) == 0
    [record] = [r for r in caplog.records if "background task orphan failed" in r.getMessage()]
    assert record.exc_info is not None and "nobody awaits me" in str(record.exc_info[1])
