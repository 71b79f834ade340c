"""One small async interface over SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQL is written once, with `?` placeholders; the PostgreSQL side numbers them ($1, $2, …).
Rows come back as plain dicts. Migrations are numbered and applied at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg

log = logging.getLogger(__name__)

Row = dict[str, Any]
DEFAULT_SQLITE_PATH = "posebot.db"


class DatabaseUrlError(ValueError):
    """A DATABASE_URL that names no supported database."""


class Executor(Protocol):
    """What runs statements: the database itself, or one transaction on it."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def execute(self, sql: str, *args: Any) -> None: ...


class Database(Executor, Protocol):
    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[Executor]: ...

    async def close(self) -> None: ...


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
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA foreign_keys = ON")
        await connection.execute("PRAGMA journal_mode = WAL")
        # WAL with synchronous=NORMAL survives a killed process; only a power cut can lose
        # the last commits, and a worker's disk does not outlive a restart anyway.
        await connection.execute("PRAGMA synchronous = NORMAL")
        await connection.execute("PRAGMA busy_timeout = 5000")
        return cls(connection)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock:
            return await self._fetch(sql, args)

    async def execute(self, sql: str, *args: Any) -> None:
        async with self._lock:
            await self._connection.execute(sql, args)

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        async with self._connection.execute(sql, args) as cursor:
            return [dict(row) for row in await cursor.fetchall()]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            await self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self)
            except BaseException:
                await self._connection.execute("ROLLBACK")
                raise
            await self._connection.execute("COMMIT")

    async def close(self) -> None:
        await self._connection.close()


class _SqliteTransaction:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._database._fetch(sql, args)

    async def execute(self, sql: str, *args: Any) -> None:
        await self._database._connection.execute(sql, args)


_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's $1, $2, … (the SQL here holds no literal `?`)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=5, command_timeout=30)
        return cls(pool)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self._pool.fetch(_numbered(sql), *args)]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._pool.execute(_numbered(sql), *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.acquire() as connection, connection.transaction():
            yield _PostgresTransaction(connection)

    async def close(self) -> None:
        await self._pool.close()


class _PostgresTransaction:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(row) for row in await self._connection.fetch(_numbered(sql), *args)]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._connection.execute(_numbered(sql), *args)


# Column types that differ between the two; everything else is spelled the same in both.
_TYPES = {
    "sqlite": {"ID": "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB": "BLOB"},
    "postgres": {"ID": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BLOB": "BYTEA"},
}


async def migrate(database: Database, migrations: Sequence[str]) -> int:
    """Apply the numbered migrations not applied yet (migration N is migrations[N-1])."""
    await database.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"
    )
    applied = {
        row["version"] for row in await database.fetch("SELECT version FROM schema_migrations")
    }
    types = _TYPES[database.dialect]
    for version, script in enumerate(migrations, start=1):
        if version in applied:
            continue
        async with database.transaction() as tx:
            for statement in script.format(**types).split(";"):
                if statement.strip():
                    await tx.execute(statement)
            await tx.execute("INSERT INTO schema_migrations (version) VALUES (?)", version)
        log.info("applied database migration %d", version)
    return len(migrations)
