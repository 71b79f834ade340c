"""The spend ledger: what an upgrade brings into it, what /forget-me leaves of it and of the
jobs, and the requester key that replaces the requester's id."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator

import pytest

from bot.storage import job_store as states
from bot.storage.database import connect, migrate
from bot.storage.job_store import JobStore, NewJob
from bot.storage.migrations import MIGRATIONS
from tests.storage.test_storage import deliver, image
from tests.storage.test_store import CHARACTER, new_job, start


def priced(requester: int) -> NewJob:
    return dataclasses.replace(new_job(requester=requester), cost=0.58)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[JobStore]:
    store = JobStore(await connect(database_url))
    await store.migrate()
    yield store
    await store.close()


async def test_an_upgrade_brings_every_paid_job_into_the_ledger(database_url: str) -> None:
    database = await connect(database_url)
    try:
        await migrate(database, MIGRATIONS[:11])
        for job_id, requester, state, cost in (
            (1, 10, "delivered", 0.58),
            (2, 10, "generated", 0.61),
            (3, 20, "failed", 0.58),
            (4, 20, "queued", 0.58),
        ):
            await database.execute(
                "INSERT INTO jobs (id, requester_id, guild_id, channel_id, application_id,"
                " interaction_id, token, token_expires_at, status_message_id, upload_limit,"
                " prompt, negative_prompt, seed, steps, guidance, size, state, created_at,"
                " generated_at, cost) VALUES ($1, $2, 7, 1, 1, $3, '', 0, 1, 1, 'p', '', 1, 1,"
                " 1, 'square', $4, 1000.0, $5, $6)",
                job_id,
                requester,
                1000 + job_id,
                state,
                1010.0 if state in ("delivered", "generated") else None,
                cost,
            )
    finally:
        await database.close()

    store = JobStore(await connect(database_url))
    try:
        await store.migrate()
        mine = await store.ledger.spend_since(0.0, requester_id=10)
        assert (mine.generations, round(mine.dollars, 2), mine.oldest) == (2, 1.19, 1010.0)
        everyone = await store.ledger.spend_since(0.0)
        assert (everyone.generations, round(everyone.dollars, 2)) == (3, 1.77), "+ the queued"
        rows = await store.database.fetch("SELECT requester_key FROM spend_ledger")
        keys = {row["requester_key"] for row in rows}
        assert len(keys) == 1, "one key for the one requester"
        assert hashlib.sha256(b"10").hexdigest() not in keys, "a keyed hash, not a plain one"
    finally:
        await store.close()


async def test_forgetting_deletes_the_jobs_and_keeps_what_was_paid(store: JobStore) -> None:
    alice = 501
    paid = await store.add_job(priced(alice), [CHARACTER])
    await deliver(store, paid, b"result", now=1010.0)
    waiting = await store.add_job(priced(alice), [CHARACTER])

    forgotten = await store.delete_user_data(alice, 1020.0)
    assert (forgotten.deleted, [job.id for job in forgotten.cancelled]) == (1, [waiting])
    assert await store.job(paid) is None and await store.job(waiting) is None
    rows = await store.database.fetch("SELECT job_id, billed, cost FROM spend_ledger")
    assert rows == [{"job_id": None, "billed": True, "cost": 0.58}]
    mine = await store.ledger.spend_since(0.0, requester_id=alice)
    assert (mine.generations, mine.dollars) == (1, 0.58), "her own limit still counts it"
    [row] = await store.ledger.spend_per("requester_id", 0.0)
    assert row["requester_id"] is None, "no id of hers is left"


async def test_forgetting_never_deletes_a_started_job(store: JobStore) -> None:
    alice = 502
    job_id = await store.add_job(priced(alice), [CHARACTER])
    [running] = await start(store, now=1010.0)
    forgotten = await store.delete_user_data(alice, 1011.0)
    assert (forgotten.deleted, forgotten.cancelled, forgotten.unfinished) == (0, [], 1)
    # It is paid for: it finishes, and counts.
    assert await store.save_result(running, image("result", b"r"), {}, 1020.0)
    stored = await store.job(job_id)
    assert stored is not None and stored.state == states.GENERATED
    assert (await store.ledger.spend_since(0.0)).generations == 1


async def test_a_possibly_billed_failure_counts_dollars_only(store: JobStore) -> None:
    job_id = await store.add_job(priced(503), [CHARACTER])
    [running] = await start(store, now=1010.0)
    assert await store.fail(running, "TimedOut", 1040.0, possibly_billed=True)
    mine = await store.ledger.spend_since(0.0, requester_id=503)
    assert (mine.generations, mine.unsure, mine.dollars) == (0, 1, 0.58)
    assert await store.job(job_id) is not None
