"""One small async interface over SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQL is written once, with PostgreSQL's numbered placeholders ($1, $2, …; a value used twice
is named by its number twice), which SQLite takes as named parameters. Rows come back as plain
dicts, alike from both: a BOOLEAN column is a bool. Migrations are numbered and applied at
start-up (bot/storage/migrations/).

A managed database fails over and restarts: every statement, and every transaction run with
`run`, is tried again on a fresh connection when the one it ran on is lost (SQLite: when
another process holds the lock too long). Callers therefore write statements that can safely
run twice: guarded state moves, inserts keyed on something unique.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import aiosqlite
import asyncpg

from bot.backoff import Backoff, retry
from bot.storage.turns import Turns

if TYPE_CHECKING:
    from bot.storage.migrations import Migration

log = logging.getLogger(__name__)

Row = dict[str, Any]
T = TypeVar("T")
DEFAULT_SQLITE_PATH = "posebot.db"
# A lost connection is tried again this many times, waiting a little longer each time: enough
# to ride out a managed PostgreSQL failover (seconds), not so long that a job hangs for good.
RETRIES = 8
RETRY_BASE_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
Work = Callable[["Executor"], Coroutine[Any, Any, T]]
MIGRATION_LOCK = 7_305_001  # the advisory lock that lets one process at a time migrate
Listener = Callable[[], None]
# Called with a notification's payload, or with None when notifications may have been missed
# (the listening connection was lost and is back): then anything may have changed.
PayloadListener = Callable[[str | None], None]


class DatabaseUrlError(ValueError):
    """A DATABASE_URL that names no supported database."""


class Executor(Protocol):
    """What runs statements: the database itself, or one transaction on it."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def execute(self, sql: str, *args: Any) -> None: ...


class Database(Executor, Protocol):
    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[Executor]: ...

    async def run(self, work: Work[T]) -> T:
        """Run `work` in one transaction, again from the start if the connection is lost.
        `work` awaits nothing but its own statements: SQLite runs it outside the event loop."""
        ...

    async def notify(self, channel: str, payload: str = "") -> None:
        """Wake every process listening on `channel` (a no-op where there is no such thing)."""
        ...

    async def listen(self, channel: str, listener: Listener) -> bool:
        """Call `listener` whenever `channel` is notified; False where that is not possible."""
        ...

    async def listen_for(self, channel: str, listener: PayloadListener) -> bool:
        """As `listen`, telling `listener` each notification's payload (None: maybe missed)."""
        ...

    async def close(self) -> None: ...


def is_connection_lost(error: BaseException) -> bool:
    """Whether `error` says the connection went away (failover, restart, terminated backend,
    SQLite busy) rather than that the statement was wrong: only then is it tried again."""
    if isinstance(error, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
        return True
    if isinstance(error, asyncpg.AdminShutdownError | asyncpg.CannotConnectNowError):
        return True
    if isinstance(error, asyncpg.InternalClientError):
        # A pooled connection whose server went away while it was idle: asyncpg has read the
        # termination notice but not yet the end of the socket, and refuses the next statement
        # before sending it ("cannot switch to state …", MagicStack/asyncpg#1069).
        return True
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error) or "busy" in str(error)
    return isinstance(error, ConnectionError | OSError) and not isinstance(error, sqlite3.Error)


async def run_retried(database: Database, work: Work[T]) -> T:
    """`work` in one transaction of `database`, from the start again on a lost connection."""

    async def attempt() -> T:
        async with database.transaction() as tx:
            return await work(tx)

    return await retried("a transaction", attempt)


async def retried(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, tried again with backoff while it fails on a lost connection."""

    def warn(error: Exception, delay: float) -> None:
        log.warning(
            "database connection lost during %s (%s); trying again in %.1fs",
            what,
            type(error).__name__,
            delay,
        )

    backoff = Backoff(RETRY_BASE_SECONDS, RETRY_MAX_SECONDS, jitter=0.2)
    return await retry(attempt, backoff, retry_if=is_connection_lost, tries=RETRIES, on_retry=warn)


async def connect(url: str | None) -> Database:
    """Open the database a DATABASE_URL names (None: SQLite in ./posebot.db)."""
    if not url:
        return await SqliteDatabase.open(DEFAULT_SQLITE_PATH)
    if url.startswith("sqlite:///"):
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy spells them.
        path = url.removeprefix("sqlite:///")
        if not path:
            raise DatabaseUrlError("sqlite:/// needs a file name, e.g. sqlite:///posebot.db")
        return await SqliteDatabase.open(path)
    if url.startswith(("postgres://", "postgresql://")):
        return await PostgresDatabase.open(url)
    raise DatabaseUrlError(
        "expected sqlite:///file.db, sqlite:////absolute/file.db, postgres://… or postgresql://…"
    )


def describe_url(url: str | None) -> str:
    """The URL without its password, for logs."""
    if not url:
        return f"sqlite:///{DEFAULT_SQLITE_PATH}"
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class SqliteDatabase:
    """One connection; a lock keeps each transaction's statements together."""

    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._lock = Turns()  # a job that frees an API slot goes before a request's reads

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(
            path, isolation_level=None, detect_types=sqlite3.PARSE_DECLTYPES
        )
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA foreign_keys = ON")
        await connection.execute("PRAGMA busy_timeout = 5000")
        await _reclaim_space_incrementally(connection)
        await connection.execute("PRAGMA journal_mode = WAL")
        # WAL with synchronous=NORMAL survives a killed process; only a power cut can lose
        # the last commits, and a worker's disk does not outlive a restart anyway.
        await connection.execute("PRAGMA synchronous = NORMAL")
        return cls(connection)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async def attempt() -> list[Row]:
            async with self._lock:
                return await self._fetch(sql, args)

        return await retried("a query", attempt)

    async def execute(self, sql: str, *args: Any) -> None:
        async def attempt() -> None:
            async with self._lock:
                await self._connection.execute(sql, _named(args))

        await retried("a statement", attempt)

    async def run(self, work: Work[T]) -> T:
        async def attempt() -> T:
            async with self._lock:
                abandoned = threading.Event()
                try:
                    # aiosqlite runs a function in its thread with `_execute` (private, but
                    # what its own methods are made of; the version is pinned).
                    return await self._connection._execute(self._in_one_trip, work, abandoned)
                except asyncio.CancelledError:
                    abandoned.set()
                    raise

        return await retried("a transaction", attempt)

    def _in_one_trip(self, work: Work[T], abandoned: threading.Event) -> T:
        """`work` as one transaction, all of it in aiosqlite's thread: one trip there and back
        instead of one per statement. Each trip waits for that thread and then for the event
        loop, which a burst of requests keeps busy: a job handing its API slot on was waiting
        behind them about twenty times. Runs in that thread, so `work` awaits nothing but its
        statements (see `_completed`).

        A caller cancelled meanwhile (a shutdown cancels what waits, here for SQLite's write
        lock) has given the work up: it is rolled back rather than committed behind its back,
        unless it was already committing."""
        connection = self._connection._conn
        connection.execute("BEGIN IMMEDIATE")
        try:
            if abandoned.is_set():
                raise _Abandoned
            done = _completed(work(_InThreadTransaction(connection)))
            if abandoned.is_set():
                raise _Abandoned
            connection.execute("COMMIT")
        except BaseException:
            connection.rollback()  # a no-op when BEGIN or COMMIT failed with none open
            raise
        return done

    async def notify(self, channel: str, payload: str = "") -> None:
        return None  # processes sharing a SQLite file find new work by polling

    async def listen(self, channel: str, listener: Listener) -> bool:
        return False

    async def listen_for(self, channel: str, listener: PayloadListener) -> bool:
        return False

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        # One trip to aiosqlite's thread, not three (execute, fetch, close): each trip waits
        # for that thread and then for the event loop, and a burst of requests makes
        # thousands of them.
        rows = await self._connection.execute_fetchall(sql, _named(args))
        return [dict(row) for row in rows]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            try:
                await self._connection.execute("BEGIN IMMEDIATE")
                yield _SqliteTransaction(self)
                await self._connection.execute("COMMIT")
            except BaseException:
                # Also when BEGIN or COMMIT failed or was cancelled (a shutdown cancels what
                # waits for the lock): aiosqlite's thread may run it all the same, and a
                # transaction left open would hold the file's write lock for good. The
                # rollback runs after it in that thread, and is a no-op without one.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._connection.rollback())
                raise

    async def close(self) -> None:
        await self._connection.close()


async def _reclaim_space_incrementally(connection: aiosqlite.Connection) -> None:
    """Let deleted images give their pages back to the file system (`PRAGMA
    incremental_vacuum`, run by the storage sweep) instead of leaving the file at its peak."""
    incremental = 2
    if await _pragma(connection, "auto_vacuum") == incremental:
        return
    await connection.execute("PRAGMA auto_vacuum = INCREMENTAL")
    if await _pragma(connection, "auto_vacuum") == incremental:
        return  # a new file: the mode applies at once
    # A file made before: the mode changes only when the file is rebuilt, once.
    try:
        await connection.execute("VACUUM")
    except sqlite3.OperationalError as error:  # another process has it open: next start
        log.warning("could not switch the database to incremental vacuum yet: %s", error)


async def _pragma(connection: aiosqlite.Connection, name: str) -> Any:
    async with connection.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    return row[0] if row is not None else None


class _SqliteTransaction:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._database._fetch(sql, args)

    async def execute(self, sql: str, *args: Any) -> None:
        await self._database._connection.execute(sql, _named(args))


class _Abandoned(Exception):
    """Its caller was cancelled before the transaction committed (nobody sees it)."""


class _InThreadTransaction:
    """The statements of a transaction that `SqliteDatabase.run` runs in aiosqlite's thread:
    they run on the spot, so their coroutines finish without ever suspending."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in self._connection.execute(sql, _named(args)).fetchall()]

    async def execute(self, sql: str, *args: Any) -> None:
        self._connection.execute(sql, _named(args))


def _completed(work: Coroutine[Any, Any, T]) -> T:
    """The value of a coroutine that must finish without suspending: a transaction's work
    run by `SqliteDatabase.run` outside the event loop. Work that awaits anything but its own
    statements (the event loop's time, a lock, another query) is a mistake there, and says so
    rather than hanging."""
    try:
        work.send(None)
    except StopIteration as finished:
        return cast(T, finished.value)
    work.close()
    raise RuntimeError(
        f"{work.__qualname__} awaited something other than its statements inside a "
        "SQLite transaction"
    )


def _named(args: Sequence[Any]) -> dict[str, Any]:
    """Arguments for SQLite, which reads `$1` as the parameter named "1"."""
    return {str(number): value for number, value in enumerate(args, start=1)}


def _boolean(stored: bytes) -> bool:
    return stored != b"0"


# SQLite keeps booleans as 0 and 1: a column declared BOOLEAN comes back as a bool, as it does
# from PostgreSQL (the connection parses declared types). No other type has a converter.
sqlite3.register_converter("BOOLEAN", _boolean)


def _sqlite_statements(script: str) -> list[str]:
    """A script's statements, one by one: each ends at a `;` where sqlite3 says the statement
    is complete, which knows literals, comments and trigger bodies."""
    statements = []
    start = 0
    for end, char in enumerate(script):
        if char == ";" and sqlite3.complete_statement(script[start : end + 1]):
            statements.append(script[start : end + 1])
            start = end + 1
    if script[start:].strip():
        statements.append(script[start:])
    return statements


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url
        self._listeners: dict[str, list[PayloadListener]] = {}
        self._listening: asyncio.Task[None] | None = None
        self._listener_connection: asyncpg.Connection | None = None

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=5, command_timeout=30)
        return cls(pool, url)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async def attempt() -> list[Row]:
            return [dict(row) for row in await self._pool.fetch(sql, *args)]

        return await retried("a query", attempt)

    async def execute(self, sql: str, *args: Any) -> None:
        async def attempt() -> None:
            await self._pool.execute(sql, *args)

        await retried("a statement", attempt)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield _PostgresTransaction(connection)

    async def run(self, work: Work[T]) -> T:
        return await run_retried(self, work)

    async def notify(self, channel: str, payload: str = "") -> None:
        await self.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, listener: Listener) -> bool:
        return await self.listen_for(channel, lambda _payload: listener())

    async def listen_for(self, channel: str, listener: PayloadListener) -> bool:
        """A connection of its own, outside the pool, that waits for notifications; when it
        is lost it is opened again (meanwhile the listener's owner polls)."""
        known = channel in self._listeners
        self._listeners.setdefault(channel, []).append(listener)
        live = self._listener_connection
        if not known and live is not None and not live.is_closed():
            # Already listening on other channels: this one joins the open connection.
            await live.add_listener(channel, self._notified)
        if self._listening is None:
            self._listening = asyncio.create_task(self._listen_forever(), name="db-listen")
        return True

    async def _listen_forever(self) -> None:
        backoff = Backoff(RETRY_BASE_SECONDS, RETRY_MAX_SECONDS)
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._url, timeout=10)
                lost = asyncio.Event()
                connection.add_termination_listener(_setter(lost))
                registered: set[str] = set()
                while unregistered := set(self._listeners) - registered:
                    for channel in unregistered:  # more may be added meanwhile
                        await connection.add_listener(channel, self._notified)
                    registered |= unregistered
                self._listener_connection = connection
                backoff.reset()
                for listeners in self._listeners.values():
                    for listener in listeners:
                        listener(None)  # whatever was notified while disconnected
                await lost.wait()
                log.warning("lost the database connection that listens for new jobs")
            except asyncio.CancelledError:
                if connection is not None and not connection.is_closed():
                    await connection.close(timeout=2)
                raise
            except Exception as error:
                log.warning("cannot listen for new jobs (%s); polling meanwhile", error)
            await backoff.wait()

    def _notified(self, connection: object, pid: int, channel: str, payload: str) -> None:
        for listener in self._listeners.get(channel, ()):
            listener(payload)

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
        await self._pool.close()


class _PostgresTransaction:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self._connection.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._connection.execute(sql, *args)


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _: event.set()


async def migrate(database: Database, migrations: Sequence[Migration]) -> int:
    """Apply the numbered migrations not applied yet, each recorded by its number.

    Processes that start together (an overlapping restart, a gateway and its workers) take
    turns: the first applies what is missing, the others then find it applied.
    """

    async def work(tx: Executor) -> list[int]:
        if database.dialect == "postgres":
            await tx.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"
        )
        rows = await tx.fetch("SELECT version FROM schema_migrations")
        applied = {row["version"] for row in rows}
        done = []
        for migration in migrations:
            if migration.number in applied:
                continue
            for step in migration.steps(database.dialect):
                if isinstance(step, str):
                    await _run_script(tx, database.dialect, step)
                else:
                    await step(tx, database.dialect)
            await tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)", migration.number
            )
            done.append(migration.number)
        return done

    for version in await database.run(work):
        log.info("applied database migration %d", version)
    return len(migrations)


async def _run_script(tx: Executor, dialect: str, script: str) -> None:
    """Statements without parameters, in `tx`'s transaction. asyncpg sends a script as it is
    (one simple query); sqlite3's executescript would commit the transaction first, so there
    the statements go one at a time."""
    for statement in [script] if dialect == "postgres" else _sqlite_statements(script):
        await tx.execute(statement)
