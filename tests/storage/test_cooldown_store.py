"""The cooldown as the database keeps it: two processes storing one user's requests at the same
moment (two servers on two shards) let exactly one through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.storage.cooldown_store import CoolingDown
from bot.storage.database import connect
from bot.storage.job_store import JobStore
from tests.storage.test_store import CHARACTER, new_job


@pytest.fixture
async def two_processes(database_url: str) -> AsyncIterator[tuple[JobStore, JobStore]]:
    stores = (JobStore(await connect(database_url)), JobStore(await connect(database_url)))
    await stores[0].migrate()
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def test_one_users_requests_stored_at_once_by_two_processes_start_one_window(
    two_processes: tuple[JobStore, JobStore],
) -> None:
    for user in range(1, 6):
        outcomes = await asyncio.gather(
            *(
                store.add_job(new_job(requester=user), [CHARACTER], cooldown_seconds=60)
                for store in two_processes
            ),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, CoolingDown)]
        assert len(refused) == 1, outcomes
        assert refused[0].until == 1060.0
        rows = await two_processes[0].database.fetch(
            "SELECT id FROM jobs WHERE requester_id = $1", user
        )
        assert len(rows) == 1, "the refused request left nothing behind"
