"""The shared queue on its own, on SQLite and PostgreSQL: many processes claiming at once keep
the limits one process keeps, leases run out and are taken over, and fencing holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.domain.tickets import Ticket
from bot.storage import job_store as states
from bot.storage.database import connect
from bot.storage.job_queue import Limits, SharedQueue
from bot.storage.job_store import JobStore
from tests.storage.test_store import CHARACTER, RESULT, new_job

PROCESSES = 6


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[list[JobStore]]:
    """One store per simulated process, each on its own connection(s)."""
    opened = [JobStore(await connect(database_url)) for _ in range(PROCESSES)]
    await asyncio.gather(*(store.migrate() for store in opened))  # they take turns
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


async def claim_at_once(stores: list[JobStore], now: float, limits: Limits) -> list[states.Job]:
    claims = await asyncio.gather(
        *(
            SharedQueue(store.database).claim(f"process-{n}", now, limits, start_new=True)
            for n, store in enumerate(stores)
        )
    )
    return [job for claim in claims for job in claim.started]


async def test_processes_claiming_at_once_keep_the_slots_and_the_rate(
    stores: list[JobStore],
) -> None:
    for user in range(20):
        await stores[0].add_job(new_job(requester=user), [CHARACTER])
    started = await claim_at_once(
        stores, 1000.0, Limits(max_concurrency=3, rpm=5, lease_seconds=15)
    )
    assert len(started) == 3, "three API slots across every process"
    assert len({job.id for job in started}) == 3
    assert [job.requester_id for job in sorted(started, key=lambda j: j.id)] == [0, 1, 2]

    # Slots are plentiful now; the plan's 5 requests a minute are what limits.
    more = await claim_at_once(stores, 1001.0, Limits(max_concurrency=50, rpm=5, lease_seconds=15))
    assert len(more) == 2, "five requests in the minute in all"
    later = await claim_at_once(stores, 1062.0, Limits(max_concurrency=50, rpm=5, lease_seconds=15))
    assert len(later) == 5, "a minute on, five more"


async def test_one_running_job_per_user_across_processes(stores: list[JobStore]) -> None:
    for _ in range(4):
        await stores[0].add_job(new_job(requester=42), [CHARACTER])
    started = await claim_at_once(
        stores, 1.0, Limits(max_concurrency=10, rpm=100, lease_seconds=15)
    )
    assert len(started) == 1


async def test_a_lease_that_runs_out_is_taken_over_and_the_old_owner_is_fenced(
    stores: list[JobStore],
) -> None:
    first, second = SharedQueue(stores[0].database), SharedQueue(stores[1].database)
    limits = Limits(max_concurrency=2, rpm=100, lease_seconds=10)
    job_id = await stores[0].add_job(new_job(), [CHARACTER])
    [mine] = (await first.claim("a", 100.0, limits, start_new=True)).started
    ticket = Ticket("req-1", "http://api/status/1", "http://api/result/1")
    assert await stores[0].set_ticket(mine, ticket)

    assert (await second.claim("b", 105.0, limits, start_new=True)).taken_over == []
    assert await first.renew("a", 105.0, 10) == 1
    assert (await second.claim("b", 114.0, limits, start_new=True)).taken_over == [], "renewed"
    claim = await second.claim("b", 116.0, limits, start_new=True)
    [theirs] = claim.taken_over
    assert (theirs.id, theirs.owner, theirs.ticket) == (job_id, "b", ticket)
    assert claim.takeovers == [(job_id, "a", states.RUNNING)], "whom it was taken from"

    assert not await stores[0].save_result(mine, RESULT, {}, now=117.0), "the old owner is fenced"
    assert not await first.still_owns(mine)
    assert await first.renew("a", 117.0, 10) == 0
    assert await stores[1].save_result(theirs, RESULT, {}, now=118.0)
    assert await stores[1].mark_delivered(theirs, message_id=7, now=119.0)
    done = await stores[0].job(job_id)
    assert done is not None
    assert (done.state, done.owner) == (states.DELIVERED, None)


async def test_a_stored_result_hands_its_slot_on_in_the_same_transaction(
    stores: list[JobStore],
) -> None:
    queue = SharedQueue(stores[0].database)
    one_slot = Limits(max_concurrency=1, rpm=100, lease_seconds=10)
    for user in (1, 2):
        await stores[0].add_job(new_job(requester=user), [CHARACTER])
    [first] = (await queue.claim("a", 10.0, one_slot, start_new=True)).started
    await queue.close_gate(None, 10.5)  # an unexplained 429 met by another job: one strike
    await stores[0].database.execute("UPDATE dispatch SET gate_until = 0")
    claims = []

    async def and_claim(work: Any) -> Any:
        stored, claim = await queue.claim_after(
            work, "a", 11.0, one_slot, start_new=True, request_went_through=True
        )
        claims.append(claim)
        return stored

    stored = await stores[0].save_result(first, RESULT, {}, now=11.0, within=and_claim)

    assert stored is not None and stored.state == states.GENERATED
    [claim] = claims
    [second] = claim.started
    assert second.requester_id == 2, "the slot the result freed, taken in its transaction"
    [gate] = await stores[0].database.fetch("SELECT gate_strikes FROM dispatch WHERE id = 1")
    assert gate["gate_strikes"] == 0, "a request went through: the backoff starts afresh"
    # Fenced like any save: the same result stored again changes nothing and starts nothing.
    again = await stores[0].save_result(first, RESULT, {}, now=12.0, within=and_claim)
    assert again is None
    assert claims[-1].started == []


async def test_a_sync_call_cut_off_goes_back_to_its_place(stores: list[JobStore]) -> None:
    queue = SharedQueue(stores[0].database)
    limits = Limits(max_concurrency=1, rpm=100, lease_seconds=10)
    first = await stores[0].add_job(new_job(requester=1), [CHARACTER])
    await stores[0].add_job(new_job(requester=2), [CHARACTER])
    [running] = (await queue.claim("a", 0.0, limits, start_new=True)).started
    assert running.id == first
    claim = await queue.claim("b", 11.0, limits, start_new=True)
    assert claim.taken_over == []
    assert claim.takeovers == [(first, "a", states.QUEUED)]
    assert [job.id for job in claim.started] == [first], "back in its place, first in line"


async def test_a_lease_that_ran_out_is_renewed_by_the_process_still_working_on_it(
    stores: list[JobStore],
) -> None:
    queue = SharedQueue(stores[0].database)
    limits = Limits(max_concurrency=1, rpm=100, lease_seconds=10)
    await stores[0].add_job(new_job(requester=1), [CHARACTER])
    [running] = (await queue.claim("a", 0.0, limits, start_new=True)).started
    # Its renewals did not reach the database: the lease ran out at 10.
    claim = await queue.claim("a", 11.0, limits, start_new=True, working_on={running.id})
    assert (claim.takeovers, claim.taken_over, claim.started) == ([], [], [])
    assert (await queue.claim("b", 20.0, limits, start_new=True)).takeovers == [], "until 21"
    assert (await queue.claim("b", 22.0, limits, start_new=True)).takeovers == [
        (running.id, "a", states.QUEUED)
    ], "another process takes over a lease that has run out"


async def test_a_stopping_process_gives_its_jobs_back_at_once(stores: list[JobStore]) -> None:
    queue = SharedQueue(stores[0].database)
    limits = Limits(max_concurrency=2, rpm=100, lease_seconds=60)
    await stores[0].add_job(new_job(requester=1), [CHARACTER])
    [job] = (await queue.claim("old", 0.0, limits, start_new=True)).started
    assert await stores[0].set_ticket(job, Ticket("r", "http://s", "http://r"))
    assert await queue.release("old") == 1
    [taken] = (await queue.claim("new", 1.0, limits, start_new=True)).taken_over
    assert taken.owner == "new", "no need to wait out the old lease"


async def test_one_process_at_a_time_holds_a_named_lease(stores: list[JobStore]) -> None:
    first, second = SharedQueue(stores[0].database), SharedQueue(stores[1].database)
    assert await first.hold("cards", "a", 0.0, 10)
    assert not await second.hold("cards", "b", 5.0, 10)
    assert await first.hold("cards", "a", 8.0, 10), "renewed by its holder"
    assert not await second.hold("cards", "b", 15.0, 10)
    assert await second.hold("cards", "b", 19.0, 10), "taken once it ran out"
    await second.let_go("cards", "b")
    assert await first.hold("cards", "a", 20.0, 10)


async def test_claims_take_turns_on_the_dispatch_lock(
    stores: list[JobStore], database_url: str
) -> None:
    """What makes N processes keep one process's limits: a claim waits while another holds
    the dispatch row (without that lock, this claim would not wait, and two claims reading
    the same counts could each start a job past the limit)."""
    await stores[0].add_job(new_job(), [CHARACTER])
    queue = SharedQueue(stores[1].database)
    limits = Limits(max_concurrency=2, rpm=100, lease_seconds=10)
    async with stores[0].database.transaction() as other_process:
        if stores[0].database.dialect == "postgres":
            await other_process.fetch("SELECT * FROM dispatch WHERE id = 1 FOR UPDATE")
        else:
            await other_process.execute("UPDATE dispatch SET gate_strikes = gate_strikes")
        claim = asyncio.create_task(queue.claim("b", 1.0, limits, start_new=True))
        await asyncio.sleep(0.5)
        assert not claim.done(), "the claim waits for the other process's turn"
    assert len((await claim).started) == 1
