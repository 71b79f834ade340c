"""The job engine's life cycle: what the commands ask of it, and the loops that keep it going.

Every process of the bot runs one. Jobs are stored before anything is paid for, and every
decision to start one is taken in the database (bot/storage/job_queue.py), so any number of
processes share one queue: a restart that overlaps the next process (as Heroku's do), or
several workers on purpose. A process that is told to stop starts no new API call but still
takes requests, finishes what it runs within the grace period, and gives back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from bot.backoff import Backoff
from bot.domain.quotas import QuotaRules
from bot.engine.cards import CardBoard
from bot.engine.cooldowns import UserCooldowns
from bot.engine.credits import CreditWatch
from bot.engine.job import JobLife
from bot.engine.job_events import JobEvents
from bot.engine.presenter import Presenter
from bot.metrics import Metrics
from bot.segmind import SegmindClient
from bot.storage.database import Work
from bot.storage.heartbeats import Heartbeats
from bot.storage.job_queue import Claim, Limits, SharedQueue
from bot.storage.job_store import Job, JobStore, NewJob, StoredImage
from bot.storage.turns import on_the_paid_path
from bot.tasks import TaskGroup

log = logging.getLogger(__name__)

# Processes wake each other through the database when a job is stored or a slot frees; they
# also look on their own this often, in case a notification was missed (or SQLite has none).
NOTIFY_CHANNEL = "posebot_jobs"
POLL_SECONDS_LISTENING = 5.0
POLL_SECONDS_POLLING = 0.5
GATEWAY_LEASE = "gateway:"  # one lease per process that answers Discord, named by its shards

T = TypeVar("T")


def process_name() -> str:
    """This process's name as an owner of jobs: unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        client: SegmindClient,
        cooldowns: UserCooldowns,
        presenter: Presenter,
        *,
        image_input: str,
        limits: Limits,
        max_wait: float,
        runs_jobs: bool = True,
        shows_queue: bool = True,
        low_credits_warning: float | None = None,
        role: str = "all",
        version: str = "",
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = SharedQueue(store.database)
        self.owner = process_name()
        # Named in the searchable lines (bot/engine/job_events.py).
        self.events = JobEvents(role, self.owner, metrics or Metrics())
        self._version = version
        self.limits = limits
        self.presenter = presenter
        # False once shutting down: no new API call starts here (requests are still stored).
        self.accepting = True
        # Why generation is paused for everyone, as last read.
        self.paused: str | None = None
        self._runs_jobs = runs_jobs
        self._shows_queue = shows_queue
        self._cooldowns = cooldowns
        self._clock = clock
        self.cards = CardBoard(
            store,
            self.queue,
            presenter,
            owner=self.owner,
            max_concurrency=limits.max_concurrency,
            rpm=limits.rpm,
            clock=clock,
        )
        self.credit_watch = CreditWatch(
            client, presenter, threshold=low_credits_warning, store=store, clock=clock
        )
        self._life = JobLife(
            store,
            self.queue,
            client,
            cooldowns,
            self.cards,
            presenter,
            image_input=image_input,
            max_wait=max_wait,
            slot_freed=self._slot_freed,
            handing_on=self._claim_after,
            credit_watch=self.credit_watch,
            events=self.events,
            clock=clock,
        )
        self._running: dict[int, asyncio.Task[None]] = {}  # jobs this process works on
        # One claim at a time in this process, its jobs running before the next one reads
        # `_running`: a claim that saw a job started by another claim of this process, but
        # not among the jobs it works on, would take it over (and pay for it twice).
        self._claiming = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._poll_seconds = POLL_SECONDS_POLLING
        self._loops = TaskGroup()
        self._dispatcher: asyncio.Task[None] | None = None
        self._gateway_lease: str | None = None  # held while this process answers Discord
        self.heartbeats = Heartbeats(store.database)
        # As BOT_ROLE names it, for /status.
        self.role = "all" if runs_jobs and shows_queue else "worker" if runs_jobs else "gateway"

    @property
    def low_credits_warning(self) -> float | None:
        return self.credit_watch.threshold

    # Life cycle

    async def start(self) -> None:
        """Read the shared state, then take part: run jobs, refresh the queue's cards."""
        await self.cards.read_durations()
        await self._read_shared_state()
        await self._beat()
        if await self.store.database.listen(NOTIFY_CHANNEL, self._kick):
            self._poll_seconds = POLL_SECONDS_LISTENING
        lease = self.limits.lease_seconds
        self._loops.supervise(self._renew_forever, "job-leases")
        if self._shows_queue:
            self._loops.supervise(lambda: self.cards.refresh_forever(lease), "queue-cards")
        if self._runs_jobs:
            # The key and the balance, checked for free, without holding up the start.
            self._loops.supervise(self.credit_watch.watch_forever, "segmind-credits")
            self._dispatcher = self._loops.spawn(self._dispatch_supervised(), "job-dispatcher")
        log.info(
            "job engine started as %s (%s)",
            self.owner,
            ", ".join(
                what
                for what, on in (("runs jobs", self._runs_jobs), ("shows queue", self._shows_queue))
                if on
            )
            or "stores requests only",
        )
        self.events.start(self._version)

    async def shutdown(self, grace: float, notice: float = 5.0) -> None:
        """Start no new API call; let running jobs finish for `grace` seconds; give the rest
        back for the next process. Requests keep being stored until the process exits.

        Jobs cut off get `notice` more seconds to tell their users they will resume.
        """
        self.accepting = False
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        running = set(self._running.values())
        if running:
            log.info("waiting up to %.0fs for %d running job(s)", grace, len(running))
            _, cut_off = await asyncio.wait(running, timeout=grace)
            if cut_off:
                log.warning("%d job(s) cut off; another process finishes them", len(cut_off))
                for task in cut_off:
                    task.cancel()
                await asyncio.wait(cut_off, timeout=notice)
        released = await self._release_all()
        if released:
            log.info("gave back %d job(s) for the next process", released)
        try:
            await self.heartbeats.stopped(self.owner)
        except Exception as error:  # its row runs out on its own within a lease
            log.warning("could not say this process stopped: %s", error)
        await self.cards.settle_all(notice)
        await self._loops.close()
        await self.cards.let_go()
        await self.cards.close(notice)

    async def _release_all(self) -> int:
        try:
            released = await self.queue.release(self.owner)
            await self._notify()
        except Exception:
            log.exception("could not give back this process's jobs; they are taken over later")
            return 0
        return released

    # What the commands ask

    async def submit(
        self,
        job: NewJob,
        images: Iterable[StoredImage],
        *,
        quotas: QuotaRules | None = None,
        cooldown_seconds: float | None = None,
    ) -> int:
        """Store a new job; its card shows its place at once, and a process runs it. With
        `quotas`, they are decided again as it is stored (raises OverQuota); with
        `cooldown_seconds`, its requester's cooldown starts (CoolingDown while one runs)."""
        job_id = await self.store.add_job(
            job, images, quotas=quotas, cooldown_seconds=cooldown_seconds
        )
        # The dispatcher may start it while its card is drawn (a job that started shows
        # that instead of a place); the other processes hear of it after. While this
        # process's own calls fill every API slot, no slot is free anywhere: the next one to
        # free starts the next job itself (`_claim_after`), and a claim now would only queue
        # before it for the database (a burst of requests made hundreds of them).
        slots_full = len(self._life.in_call) >= self.limits.max_concurrency
        if not slots_full:
            self._kick()
        stored = await self.store.job(job_id)
        if stored is None:
            raise RuntimeError(f"job {job_id} vanished right after it was stored")
        await self.cards.show_new(stored)
        await self._notify_others()
        return job_id

    async def submit_all(
        self,
        jobs: Sequence[NewJob],
        images: Iterable[StoredImage],
        *,
        quotas: QuotaRules | None = None,
        cooldown_seconds: float | None = None,
    ) -> list[int]:
        """Store jobs that stand or fall together (a character's sheet: `JobStore.add_jobs`); they
        have no cards of their own, and run in the fair order like any other."""
        ids = await self.store.add_jobs(
            jobs, images, quotas=quotas, cooldown_seconds=cooldown_seconds
        )
        await self._notify()
        return ids

    async def pause(self, reason: str) -> None:
        """Hold every job until `resume` (the owner asked for it)."""
        if await self.queue.pause(reason):
            self.events.pause(reason, "owner")
        self.paused = await self.queue.paused()
        await self._notify()

    async def resume(self) -> int:
        """Lift a pause (the owner fixed the cause); returns how many jobs are waiting."""
        await self.queue.lift_pause()
        self.events.resume()
        self.paused = None
        await self._notify()
        return len((await self.queue.snapshot(self._clock(), with_jobs=False)).order)

    async def pause_reason(self) -> str | None:
        """Why generation is paused for everyone (by any process), or None."""
        self.paused = await self.queue.paused()
        return self.paused

    async def cancel(self, job_id: int) -> bool:
        """Cancel a queued job; False once it has started (it is paid for by then)."""
        job = await self.store.job(job_id)
        now = self._clock()
        if job is None or not await self.store.cancel(job_id, now):
            return False
        self._cooldowns.refund(job.requester_id, job.interaction_id)
        self.events.job_end(job, "cancelled", "false", now)
        return True

    def forgotten(self, jobs: Iterable[Job]) -> None:
        """Waiting jobs cancelled by /forget-me (nothing was paid for them): each ended."""
        now = self._clock()
        for job in jobs:
            self.events.job_end(job, "cancelled", "false", now)

    async def queued_of(self, user_id: int) -> list[int]:
        """A user's waiting jobs, oldest first."""
        return await self.queue.queued_of(user_id)

    async def position(self, job_id: int) -> int | None:
        """A waiting job's place in the queue (which reads the whole queue); None once it
        started or ended."""
        snapshot = await self.queue.snapshot(self._clock(), with_jobs=False)
        return snapshot.position(job_id)

    @property
    def gate_reopens_at(self) -> float | None:
        """When the API's 429 gate opens again, as last read; None when it is open."""
        until = self.queue.last_gate_until
        return until if until > self._clock() else None

    # Dispatching

    def _kick(self) -> None:
        self._wakeup.set()

    def _kick_at(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        delay = max(when - self._clock(), 0.0)
        self._timer = asyncio.get_running_loop().call_later(delay, self._wakeup.set)

    def _slot_freed(self) -> None:
        self._kick()
        self._loops.spawn(self._notify(), "notify")

    async def _notify(self) -> None:
        self._kick()
        await self._notify_others()

    async def _notify_others(self) -> None:
        try:
            await self.store.database.notify(NOTIFY_CHANNEL)
        except Exception as error:
            log.warning("could not wake the other processes (%s); they poll", error)

    async def _dispatch_supervised(self) -> None:
        """The dispatcher, restarted if a claim fails (the database is away, say)."""
        on_the_paid_path()  # a claim goes before a request's reads (bot/storage/turns.py)
        backoff = Backoff(0.5, 30.0)
        while self.accepting:
            try:
                await self._dispatch_forever()
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = backoff.next_delay()
                log.exception("the job dispatcher failed; restarting it in %.1fs", delay)
                await backoff.sleep(delay)

    async def _dispatch_forever(self) -> None:
        while self.accepting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_seconds)
            self._wakeup.clear()
            if not self.accepting:
                return
            await self._claim()

    async def _claim(self) -> None:
        async with self._claiming:
            claim = await self.queue.claim(
                self.owner,
                self._clock,
                self.limits,
                start_new=self.accepting,
                working_on=set(self._running),
            )
            self._take(claim)

    async def _claim_after(self, work: Work[T]) -> T:
        """`work` (a result stored, which frees its API slot) and a claim in one transaction:
        the next job starts the moment the slot frees, with no turn of the dispatcher."""
        if not self.accepting:
            # Stopping: nothing starts here, nor is taken over only to be cut off; another
            # process may use the slot.
            stored = await self.store.database.run(work)
            self._slot_freed()
            return stored
        async with self._claiming:
            done, claim = await self.queue.claim_after(
                work,
                self.owner,
                self._clock,
                self.limits,
                start_new=self.accepting,
                working_on=set(self._running),
                request_went_through=True,
            )
            self._take(claim)
        if not claim.started:
            # The slot is still free (nothing here could start, and this claim was as good as
            # the dispatcher's): the other processes hear of it.
            self._loops.spawn(self._notify_others(), "notify")
        return done

    def _take(self, claim: Claim) -> None:
        """Run what a claim gave this process."""
        self.paused = claim.paused
        for job_id, previous, state in claim.takeovers:
            self.events.takeover(job_id, previous, state)
        for job in claim.taken_over:
            log.info("taking over job %s (%s), left without a process", job.id, job.state)
            self._run(job, resumed=True)
        for job in claim.started:
            self._run(job, resumed=False, images=claim.images.get(job.id))
        if claim.wake_at is not None:
            self._kick_at(claim.wake_at)

    def _run(
        self, job: Job, *, resumed: bool, images: dict[str, StoredImage] | None = None
    ) -> None:
        task = self._loops.spawn(
            self._life.run(job, resumed=resumed, images=images), f"job-{job.id}"
        )
        self._running[job.id] = task
        task.add_done_callback(lambda done: self._forget(job.id, done))

    def _forget(self, job_id: int, task: asyncio.Task[None]) -> None:
        if self._running.get(job_id) is task:
            del self._running[job_id]

    def job_ids(self) -> list[int]:
        """The jobs this process works on now."""
        return list(self._running)

    # Leases and shared state

    async def announce_gateway(self, shards: str) -> None:
        """Say that this process answers Discord (for `shards`): a process that is stopping
        waits for that before it stops answering."""
        self._gateway_lease = f"{GATEWAY_LEASE}{shards}:{self.owner}"
        await self._hold_gateway()

    async def successor_answers(self, shards: str) -> bool:
        """Whether another process answers Discord for the same shards."""
        prefix = f"{GATEWAY_LEASE}{shards}:"
        return await self.queue.others_hold(prefix, self.owner, self._clock())

    async def stop_answering(self) -> None:
        if self._gateway_lease is None:
            return
        try:
            await self.queue.let_go(self._gateway_lease, self.owner)
        except Exception as error:  # it runs out on its own within a lease
            log.warning("could not give up the gateway lease: %s", error)
        self._gateway_lease = None

    async def _hold_gateway(self) -> None:
        if self._gateway_lease is not None:
            await self.queue.hold(
                self._gateway_lease, self.owner, self._clock(), self.limits.lease_seconds
            )

    async def _beat(self) -> None:
        await self.heartbeats.beat(self.role, self.owner, self._clock(), self.limits.lease_seconds)

    async def _renew_forever(self) -> None:
        interval = self.limits.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            await self.queue.renew(self.owner, self._clock(), self.limits.lease_seconds)
            await self._hold_gateway()
            await self._beat()
            await self._read_shared_state()

    async def _read_shared_state(self) -> None:
        self.paused = await self.queue.paused()
        await self.queue.gate_until()
