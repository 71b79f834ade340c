"""A fresh PostgreSQL schema for each run, on the server the tests use, dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from tests.conftest import POSTGRES_URL

# As in the tests: without a server the PostgreSQL rows are skipped, unless it is required.
REQUIRED = bool(os.environ.get("REQUIRE_POSTGRES"))


class PostgresUnavailable(Exception):
    """No PostgreSQL server answers at POSTGRES_URL."""


async def reachable() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


@asynccontextmanager
async def fresh_schema() -> AsyncIterator[str]:
    """A DATABASE_URL whose search_path is a new, empty schema; the schema is dropped after."""
    if not await reachable():
        raise PostgresUnavailable(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    schema = f"bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        # asyncpg passes unknown URL parameters on as server settings.
        separator = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{separator}search_path={schema}"
    finally:
        # A bot process being killed may still hold a lock in the schema: try again a while.
        for _ in range(50):
            try:
                await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
                break
            except (asyncpg.DeadlockDetectedError, asyncpg.LockNotAvailableError):
                await asyncio.sleep(0.2)
        await admin.close()
