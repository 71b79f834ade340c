"""A burst of new cards shares its reads of the queue, and each card still sees its own job."""

from __future__ import annotations

import asyncio

from bot.engine.queue_snapshots import SharedSnapshots
from bot.storage.job_queue import Snapshot
from bot.tasks import TaskGroup


async def test_a_burst_shares_reads_and_each_request_sees_the_job_it_stored() -> None:
    stored: list[int] = []  # the queue as the database has it
    reads = 0
    read_started = asyncio.Event()
    slow_read = asyncio.Event()

    async def read() -> Snapshot:
        nonlocal reads
        reads += 1
        seen = list(stored)  # what the read sees is what was stored before it started
        read_started.set()
        await slow_read.wait()
        return Snapshot(order=seen, jobs={}, in_flight=0, sends=[], gate_until=0.0, paused=None)

    tasks = TaskGroup()
    snapshots = SharedSnapshots(read, tasks)

    async def new_card(job_id: int) -> Snapshot:
        stored.append(job_id)
        return await snapshots.fresh()

    first = asyncio.create_task(new_card(1))
    await read_started.wait()  # the first read is under way
    burst = [asyncio.create_task(new_card(job_id)) for job_id in range(2, 12)]
    await asyncio.sleep(0)
    slow_read.set()
    seen = await asyncio.gather(first, *burst)

    for job_id, snapshot in enumerate(seen, start=1):
        assert snapshot.position(job_id) == job_id, "each card finds its own job in its place"
    assert reads == 2, "the ten that came during the first read shared the second"
    await tasks.close()


async def test_a_read_that_fails_fails_each_of_its_callers_and_the_next_read_is_fresh() -> None:
    attempts = 0

    async def read() -> Snapshot:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionResetError("the database went away")
        return Snapshot(order=[7], jobs={}, in_flight=0, sends=[], gate_until=0.0, paused=None)

    tasks = TaskGroup()
    snapshots = SharedSnapshots(read, tasks)
    failed = await asyncio.gather(snapshots.fresh(), snapshots.fresh(), return_exceptions=True)
    assert [type(error) for error in failed] == [ConnectionResetError, ConnectionResetError]
    assert (await snapshots.fresh()).position(7) == 1
    await tasks.close()


async def test_callers_of_a_read_cut_off_by_a_shutdown_read_alone() -> None:
    reads = 0
    read_started = asyncio.Event()

    async def read() -> Snapshot:
        nonlocal reads
        reads += 1
        if reads == 1:
            read_started.set()
            await asyncio.Event().wait()  # until the cards' tasks are closed
        return Snapshot(order=[3], jobs={}, in_flight=0, sends=[], gate_until=0.0, paused=None)

    tasks = TaskGroup()
    snapshots = SharedSnapshots(read, tasks)
    waiting = [asyncio.create_task(snapshots.fresh()) for _ in range(2)]
    await read_started.wait()
    await tasks.close()  # the shutdown ends the shared read
    for snapshot in await asyncio.gather(*waiting):
        assert snapshot.position(3) == 1
    assert reads == 3, "the shared read, then each caller's own"
    assert (await snapshots.fresh()).position(3) == 1, "later callers start a read anew"
