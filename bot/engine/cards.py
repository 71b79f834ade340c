"""Each job's card, kept current: edits in order per job, a few at once, queue places from the
database's order.

One process at a time (the holder of the `cards` lease) refreshes the cards of queued jobs,
and writes what each shows into the job's row, so that a process that takes over the refresh
after a restart edits only what changed. A started job's card is edited by its owner alone.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from bot.domain.pacing import RatePacer
from bot.engine.presenter import Presenter
from bot.engine.queue_snapshots import SharedSnapshots
from bot.storage.job_queue import CARDS_LEASE, SharedQueue, Snapshot
from bot.storage.job_store import Job, JobStore
from bot.tasks import TaskGroup

log = logging.getLogger(__name__)

# Until real durations are known, a generation is taken to last this long (the API's typical).
DEFAULT_DURATION_SECONDS = 40.0
REFRESH_INTERVAL_SECONDS = 2.0
# Queue cards near the front are refreshed more often than the ones far behind.
FRONT_POSITIONS = 10
FRONT_REFRESH_SECONDS = 3.0
BACK_REFRESH_SECONDS = 30.0
MAX_PARALLEL_EDITS = 5
# How often the holder re-reads how long generations take (any process may have made them).
DURATIONS_REFRESH_SECONDS = 20.0


class CardBoard:
    def __init__(
        self,
        store: JobStore,
        queue: SharedQueue,
        presenter: Presenter,
        *,
        owner: str,
        max_concurrency: int,
        rpm: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self._presenter = presenter
        self._owner = owner
        self._max_concurrency = max_concurrency
        self._rpm = rpm
        self._clock = clock
        self._started_at = clock()
        self._durations: deque[float] = deque(maxlen=20)
        self.typical_duration = DEFAULT_DURATION_SECONDS  # the median of `_durations`
        self._durations_read_at = float("-inf")
        self._edits = asyncio.Semaphore(MAX_PARALLEL_EDITS)
        self._pending: dict[int, asyncio.Task[None]] = {}  # each job's latest card update
        self._refreshed: dict[int, float] = {}  # when this process last edited a queue card
        self._tasks = TaskGroup()
        self._snapshots = SharedSnapshots(
            lambda: queue.snapshot(clock(), with_jobs=False), self._tasks
        )
        self.holding = False

    # Estimates

    def note_duration(self, seconds: float) -> None:
        self._durations.append(seconds)
        self.typical_duration = statistics.median(self._durations)

    async def read_durations(self) -> None:
        self._durations.clear()
        for duration in reversed(await self.store.recent_durations()):
            self.note_duration(duration)
        self._durations_read_at = self._clock()

    def estimate_start(self, position: int, snapshot: Snapshot) -> float:
        """When the job at `position` (1 = next) should start, by recent durations."""
        now = self._clock()
        rounds = (position - 1 + snapshot.in_flight) // self._max_concurrency
        by_slots = now + rounds * self.typical_duration
        pacer = RatePacer.from_history(self._rpm, snapshot.sends, self._clock)
        gate = snapshot.gate_until if snapshot.gate_until > now else now
        return max(by_slots, pacer.send_time(position), gate)

    # Showing

    def card_of(self, job: Job, snapshot: Snapshot) -> tuple[str, Coroutine[Any, Any, None]]:
        """What a queued job's card should show now: a key to compare, and the edit."""
        presenter = self._presenter
        resumed = job.created_at < self._started_at
        if snapshot.paused:
            return f"paused:{snapshot.paused}", presenter.show_paused(job, snapshot.paused)
        position = snapshot.position(job.id) or 1
        starts_at = self.estimate_start(position, snapshot)
        key = f"queued:{position}:{round(starts_at / 10)}:{int(resumed)}"
        return key, presenter.show_queued(job, position, starts_at, resumed=resumed)

    async def show_new(self, job: Job) -> None:
        """The first card of a job just stored: its place in the queue (or the pause)."""
        snapshot = await self._snapshots.fresh()
        key, update = self.card_of(job, snapshot)
        if await self.queue.note_card(job.id, key):
            self._refreshed[job.id] = self._clock()
            self.show(job.id, update)
        else:
            update.close()  # it started already: its owner shows that

    def show(self, job_id: int, update: Coroutine[Any, Any, None]) -> None:
        """Show something without waiting for it. A job's updates go out in order, after the
        ones before them, and at most a few edits are under way at once."""
        previous = self._pending.get(job_id)

        async def edit() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            async with self._edits:
                await present(update)

        task = self._tasks.spawn(edit(), f"card-{job_id}")
        self._pending[job_id] = task
        task.add_done_callback(lambda done: self._forget_pending(job_id, done))

    def _forget_pending(self, job_id: int, task: asyncio.Task[None]) -> None:
        if self._pending.get(job_id) is task:
            del self._pending[job_id]

    async def settle(self, job_id: int) -> None:
        """Wait for a job's updates still under way, so that nothing shows after its result."""
        pending = self._pending.get(job_id)
        if pending is not None:
            await asyncio.wait([pending])

    async def settle_all(self, timeout: float) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending.values()), timeout=timeout)

    # Refreshing the queue (one process at a time)

    async def refresh_forever(self, lease_seconds: float) -> None:
        while True:
            await asyncio.sleep(REFRESH_INTERVAL_SECONDS)
            now = self._clock()
            self.holding = await self.queue.hold(CARDS_LEASE, self._owner, now, lease_seconds)
            if self.holding:
                await self.refresh()

    async def refresh(self) -> None:
        now = self._clock()
        if now - self._durations_read_at > DURATIONS_REFRESH_SECONDS:
            await self.read_durations()
        snapshot = await self.queue.snapshot(now)
        queued = set(snapshot.order)
        for position, job_id in enumerate(snapshot.order, start=1):
            job = snapshot.jobs[job_id]
            gap = FRONT_REFRESH_SECONDS if position <= FRONT_POSITIONS else BACK_REFRESH_SECONDS
            key, update = self.card_of(job, snapshot)
            paused_now = key.startswith("paused:") and job.card != key
            if key == job.card or (now - self._refreshed.get(job_id, 0.0) < gap and not paused_now):
                update.close()
                continue
            if not await self.queue.note_card(job_id, key):
                update.close()
                continue
            self._refreshed[job_id] = now
            self.show(job_id, update)
        for job_id in [job_id for job_id in self._refreshed if job_id not in queued]:
            del self._refreshed[job_id]

    async def let_go(self) -> None:
        if self.holding:
            await self.queue.let_go(CARDS_LEASE, self._owner)
            self.holding = False

    async def close(self, timeout: float) -> None:
        await self.settle_all(timeout)
        await self._tasks.close()


async def present(update: Coroutine[Any, Any, None]) -> None:
    """Show something to a user; a failure to show it never stops the job."""
    try:
        await update
    except Exception:
        log.exception("could not update a job's message")
