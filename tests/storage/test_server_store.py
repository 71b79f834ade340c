"""A server's settings changed through one process reach every other process's copy: at once
where the database notifies (PostgreSQL), within a second where it cannot (SQLite)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from bot.storage.database import Database, connect
from bot.storage.job_store import JobStore
from bot.storage.server_store import POLLING_TTL_SECONDS, ServerSettingsStore

GUILD = 42


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two connections to one database, as two processes of the bot have."""
    store = JobStore(await connect(database_url))
    await store.migrate()
    other = await connect(database_url)
    yield store.database, other
    await other.close()
    await store.close()


async def test_a_change_made_elsewhere_is_seen_soon(
    databases: tuple[Database, Database],
) -> None:
    clock = Clock()
    here = ServerSettingsStore(databases[0], clock=clock)
    there = ServerSettingsStore(databases[1], clock=clock)
    await here.start()
    await there.start()
    assert (await here.get(GUILD)).blocked_words == ()  # now in this process's memory

    before = await there.get(GUILD, fresh=True)
    await there.save(dataclasses.replace(before, blocked_words=("dragon",)))

    if databases[0].dialect == "postgres":
        # Notified: seen without any time passing.
        for _ in range(100):
            if (await here.get(GUILD)).blocked_words:
                break
            await asyncio.sleep(0.02)
    else:
        assert (await here.get(GUILD)).blocked_words == (), "kept for a moment"
        clock.now += POLLING_TTL_SECONDS
    assert (await here.get(GUILD)).blocked_words == ("dragon",)
    assert here.cached(GUILD) is not None
