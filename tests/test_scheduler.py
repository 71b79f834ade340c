"""The scheduler against the fake API: one 429 holds everyone back, concurrency is capped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.gate import RateGate
from bot.scheduler import Scheduler, WaitTooLong
from bot.segmind import SegmindClient
from tests.fake_segmind import API_KEY, MODEL, FakeSegmind, Fault
from tests.test_segmind_client import BODY


class RecordedProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, float | None]] = []

    async def waiting_for_slot(self) -> None:
        self.events.append(("slot", None))

    async def waiting_for_api(self, until: float) -> None:
        self.events.append(("api", until))

    async def generating(self) -> None:
        self.events.append(("generating", None))


@pytest.fixture
async def client(segmind: FakeSegmind) -> AsyncIterator[SegmindClient]:
    async with aiohttp.ClientSession() as session:
        yield SegmindClient(
            session, api_key=API_KEY, base_url=segmind.base_url, model=MODEL, retry_delay=0.01
        )


async def test_a_429_holds_every_job_until_the_reset_then_all_are_served_in_order(
    segmind: FakeSegmind, client: SegmindClient
) -> None:
    segmind.faults.append(Fault.rate_limited(retry_after=0.6))
    scheduler = Scheduler(client, max_concurrency=2, max_wait=30)
    progress = [RecordedProgress() for _ in range(4)]
    finished: list[int] = []

    async def job(index: int) -> None:
        await scheduler.run({**BODY, "seed": index}, progress[index])
        finished.append(index)

    tasks = [asyncio.create_task(job(0))]
    await asyncio.sleep(0.2)  # job 0 met the 429; the others arrive while the gate is shut
    tasks += [asyncio.create_task(job(i)) for i in (1, 2, 3)]
    await asyncio.gather(*tasks)

    limited_at = segmind.submits[0].finished_at
    assert segmind.submits[0].status == 429
    later = segmind.submits[1:]
    assert len(later) == 4 and all(s.status == 200 for s in later)
    assert all(s.started_at - limited_at >= 0.55 for s in later), "nothing sent before reset"
    assert [s.body["seed"] for s in later] == [0, 1, 2, 3], "served in arrival order"
    assert ("api", pytest.approx(time.time(), abs=5)) in progress[0].events
    assert sorted(finished) == [0, 1, 2, 3]


async def test_a_wait_beyond_the_limit_ends_the_job_with_the_reset_time(
    segmind: FakeSegmind, client: SegmindClient
) -> None:
    segmind.faults.append(Fault.rate_limited(retry_after=120))
    scheduler = Scheduler(client, max_concurrency=4, max_wait=60)
    started = time.time()
    with pytest.raises(WaitTooLong) as caught:
        await scheduler.run(BODY, RecordedProgress())
    assert caught.value.until == pytest.approx(started + 120, abs=3)
    # A job arriving now is told at once, without a request.
    with pytest.raises(WaitTooLong):
        await scheduler.run(BODY, RecordedProgress())
    assert len(segmind.submits) == 1


async def test_never_more_than_the_allowed_calls_in_flight() -> None:
    slow = FakeSegmind(latency=0.3)
    await slow.start()
    session = aiohttp.ClientSession()
    try:
        slow_client = SegmindClient(session, api_key=API_KEY, base_url=slow.base_url, model=MODEL)
        scheduler = Scheduler(slow_client, max_concurrency=3, max_wait=30)
        progress = [RecordedProgress() for _ in range(8)]
        await asyncio.gather(*(scheduler.run(BODY, p) for p in progress))
        assert slow.max_in_flight == 3
        assert len(slow.submits) == 8
        waited = [p for p in progress if ("slot", None) in p.events]
        assert len(waited) == 5, "the jobs beyond the cap were told they wait for a slot"
    finally:
        await session.close()
        await slow.close()


async def test_unexplained_429s_back_off_exponentially() -> None:
    now = [1000.0]
    gate = RateGate(clock=lambda: now[0])
    delays = []
    for _ in range(3):
        delays.append(gate.close(None) - now[0])
        now[0] += 1000  # long after the reopening: each close starts a new wait
    assert 1.4 <= delays[0] <= 2.6
    assert 2.9 <= delays[1] <= 5.1
    assert 5.9 <= delays[2] <= 10.1
    gate.succeeded()
    assert gate.close(None) - now[0] <= 2.6, "a success resets the backoff"


async def test_a_later_reset_extends_the_gate_and_an_earlier_one_does_not_shorten_it() -> None:
    now = [1000.0]
    gate = RateGate(clock=lambda: now[0])
    assert gate.reopens_at is None
    gate.close(1030.0)
    assert gate.reopens_at == 1030.0
    gate.close(1010.0)
    assert gate.reopens_at == 1030.0
    gate.close(1050.0)
    assert gate.reopens_at == 1050.0
