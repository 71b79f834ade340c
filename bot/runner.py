"""Runs the stored jobs: fair order, the plan's rate, the 429 gate, N calls in flight.

Every job is in the store before anything is paid for, and every step is written down as it
happens, so `start()` after a restart (clean or not) carries on where the last run stopped:
queued jobs keep their place, an async generation already paid for is collected instead of
submitted again, and a stored result is delivered without generating it again.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import Any, Protocol

from bot import store as states
from bot.cooldowns import UserCooldowns
from bot.fairness import FairQueue
from bot.gate import RateGate
from bot.images import GeneratedImage, PreparedImage
from bot.pacing import RatePacer
from bot.pose import ImageInput, PoseRequest
from bot.segmind import (
    AccessDenied,
    Generation,
    OutOfCredits,
    RateLimited,
    SegmindClient,
    SegmindError,
    Ticket,
)
from bot.store import DAY_SECONDS, Job, NewJob, Store, StoredImage

log = logging.getLogger(__name__)

# Until real durations are known, a generation is taken to last this long (the API's typical).
DEFAULT_DURATION_SECONDS = 40.0
STATUS_INTERVAL_SECONDS = 2.0
# Queue cards near the front are refreshed more often than the ones far behind.
FRONT_POSITIONS = 10
FRONT_REFRESH_SECONDS = 3.0
BACK_REFRESH_SECONDS = 30.0
MAX_PARALLEL_STATUS_EDITS = 5
PAUSED = "paused"  # the store's fact holding why generation is paused


# Answers that no retry can fix and that would fail every job alike: pause instead.
PAUSE_REASONS = {
    406: "the bot's Segmind credits have run out",
    401: "Segmind refused the bot's API key",
    403: "Segmind says the bot's account may not use this model",
}
PAUSING_STATUSES = tuple(PAUSE_REASONS)


class WaitTooLong(Exception):
    """The API's rate limit would hold this job past the allowed wait; `until` is the reset."""

    def __init__(self, until: float) -> None:
        super().__init__(f"rate limited until {until:.0f}")
        self.until = until


class Presenter(Protocol):
    """How jobs are shown to their requesters (the Discord side implements it)."""

    async def show_queued(
        self, job: Job, position: int, starts_at: float, *, resumed: bool
    ) -> None: ...

    async def show_running(self, job: Job, *, resumed: bool) -> None: ...

    async def show_waiting(self, job: Job, until: float) -> None:
        """The API rate-limited us: the job is back in its place until `until`."""
        ...

    async def show_interrupted(self, job: Job) -> None: ...

    async def show_paused(self, job: Job, reason: str) -> None:
        """Generation is paused for everyone; the job keeps its place."""
        ...

    async def alert_owner(self, text: str) -> None:
        """Tell the bot's owner something only they can fix (once per pause)."""
        ...

    async def deliver(self, job: Job, image: GeneratedImage) -> int:
        """Post the result; return the message's id. Raises when it cannot be posted."""
        ...

    async def report_failure(self, job: Job, error: Exception) -> None: ...


class JobRunner:
    def __init__(
        self,
        store: Store,
        client: SegmindClient,
        cooldowns: UserCooldowns,
        *,
        image_input: str,
        max_concurrency: int,
        rpm: int,
        max_wait: float,
        low_credits_warning: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.presenter: Presenter | None = None
        self.queue = FairQueue()
        self.gate = RateGate(clock)
        self.pacer = RatePacer(rpm, clock)
        self.accepting = True
        # Why generation is paused for everyone (credits ran out, key refused), or None.
        self.paused: str | None = None
        self.low_credits_warning = low_credits_warning
        self._credits_warned_at = float("-inf")
        self._client = client
        self._cooldowns = cooldowns
        self._image_input = image_input
        self._max_concurrency = max_concurrency
        self._max_wait = max_wait
        self._clock = clock
        self._jobs: dict[int, Job] = {}  # queued and running jobs, without their images
        self._running: dict[int, asyncio.Task[None]] = {}  # from dispatch to delivery
        self._in_flight = 0  # jobs holding an API slot: submitting, generating or polling
        self._resumed: set[int] = set()
        self._durations: deque[float] = deque(maxlen=20)
        self._typical_duration = DEFAULT_DURATION_SECONDS  # the median of `_durations`
        self._wakeup = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._edits = asyncio.Semaphore(MAX_PARALLEL_STATUS_EDITS)
        # What each queued card last showed, and when: cards are edited only on a change.
        self._shown: dict[int, tuple[int, int]] = {}
        self._refreshed: dict[int, float] = {}
        self._pending: dict[int, asyncio.Task[None]] = {}  # each job's latest card update

    # Life cycle

    async def start(self) -> None:
        """Pick up what the last run left, then start taking jobs."""
        if self.presenter is None:
            raise RuntimeError("no presenter: the pose cog must be loaded before the runner")
        for duration in reversed(await self.store.recent_durations()):
            self._note_duration(duration)
        self.paused = await self.store.fact(PAUSED)
        resumed = await self._resume()
        if resumed:
            log.info("resumed %d unfinished job(s) from the store", resumed)
        self._loops = [
            asyncio.create_task(self._dispatch_forever(), name="job-dispatcher"),
            asyncio.create_task(self._report_positions_forever(), name="job-positions"),
        ]
        self._kick()

    async def shutdown(self, grace: float, notice: float = 5.0) -> None:
        """Take no new jobs, let running ones finish for `grace` seconds, leave the rest stored.

        Jobs cut off get `notice` more seconds to tell their users they will resume.
        """
        self.accepting = False
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        running = set(self._running.values())
        if running:
            log.info("waiting up to %.0fs for %d running job(s)", grace, len(running))
            _, cut_off = await asyncio.wait(running, timeout=grace)
            if cut_off:
                log.warning("%d job(s) cut off; they resume on the next start", len(cut_off))
                for task in cut_off:
                    task.cancel()
                await asyncio.wait(cut_off, timeout=notice)
        if self._pending:
            await asyncio.wait(set(self._pending.values()), timeout=notice)
        log.info("%d job(s) left queued in the store", len(self.queue))

    # What the commands ask

    async def submit(self, job: NewJob, images: Iterable[StoredImage]) -> int:
        """Store a new job and queue it; its card shows its place at once."""
        job_id = await self.store.add_job(job, images)
        stored = await self.store.job(job_id)
        if stored is None:
            raise RuntimeError(f"job {job_id} vanished right after it was stored")
        self._enqueue(stored)
        position = self.position(job_id) or 1
        starts_at = self.estimate_start(position)
        self._note_shown(job_id, position, starts_at)
        if self.paused:
            shown = self._presenter.show_paused(stored, self.paused)
        else:
            shown = self._presenter.show_queued(stored, position, starts_at, resumed=False)
        self._in_background(shown, job_id)
        self._kick()
        return job_id

    async def pause(self, reason: str) -> None:
        """Hold every job until `resume` (the owner asked for it)."""
        self.paused = reason
        await self.store.set_fact(PAUSED, reason)
        for job_id in self.queue.order():
            job = self._jobs.get(job_id)
            if job is not None:
                self._in_background(self._presenter.show_paused(job, reason), job_id)

    async def resume(self) -> int:
        """Lift a pause (the owner fixed the cause); returns how many jobs are waiting."""
        self.paused = None
        await self.store.set_fact(PAUSED, None)
        self._shown.clear()  # every card shows its place again at the next report
        self._refreshed.clear()
        self._kick()
        return len(self.queue)

    async def cancel(self, job_id: int) -> bool:
        """Cancel a queued job; False once it has started (it is paid for by then)."""
        if not await self.store.cancel(job_id, self._clock()):
            return False
        self.queue.remove(job_id)
        job = self._jobs.pop(job_id, None)
        if job is not None:
            self._cooldowns.refund(job.requester_id)
        return True

    def job(self, job_id: int) -> Job | None:
        """A queued or running job, as last stored."""
        return self._jobs.get(job_id)

    def position(self, job_id: int) -> int | None:
        try:
            return self.queue.order().index(job_id) + 1
        except ValueError:
            return None

    def queued_count(self, user_id: int) -> int:
        return self.queue.count(user_id)

    def first_queued(self, user_id: int) -> int | None:
        return self.queue.first_of(user_id)

    def estimate_start(self, position: int) -> float:
        """When the job at `position` (1 = next) should start, by recent durations."""
        now = self._clock()
        rounds = (position - 1 + self._in_flight) // self._max_concurrency
        by_slots = now + rounds * self._typical_duration
        return max(by_slots, self.pacer.send_time(position), self.gate.reopens_at or now)

    # Dispatching

    def _kick(self) -> None:
        self._wakeup.set()

    def _kick_later(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._wakeup.set)

    async def _dispatch_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._dispatch()

    def _dispatch(self) -> None:
        while not self.paused and self._in_flight < self._max_concurrency and len(self.queue):
            ready_at = max(self.gate.reopens_at or 0.0, self.pacer.next_free())
            delay = ready_at - self._clock()
            if delay > 0:
                self._kick_later(delay)
                return
            job_id = self.queue.take()
            if job_id is None:
                return  # every queued job's user already has one running
            self.pacer.record()
            self._spawn(job_id, self._run(job_id))

    def _spawn(self, job_id: int, work: Coroutine[Any, Any, None]) -> None:
        """Run a job that holds an API slot (freed by `_free_slot` when its call is over)."""
        self._in_flight += 1
        task = asyncio.create_task(work, name=f"job-{job_id}")
        self._running[job_id] = task

    def _enqueue(self, job: Job) -> None:
        self._jobs[job.id] = job
        self.queue.add(job.id, job.requester_id)

    async def _resume(self) -> int:
        unfinished = await self.store.jobs(states.UNFINISHED)
        for job in unfinished:
            self._resumed.add(job.id)
            if job.state == states.QUEUED:
                self._enqueue(job)
            elif job.state == states.RUNNING and job.ticket is None:
                # A sync call cut off mid-way: it may have been billed, but holds no result.
                await self.store.requeue(job.id)
                self._enqueue(job)
            else:
                # Paid for already (async ticket) or generated: finish it, never pay again.
                self._jobs[job.id] = job
                self.queue.mark_running(job.requester_id)
                self._spawn(job.id, self._run(job.id, resumed=True))
        return len(unfinished)

    # Running one job

    async def _run(self, job_id: int, *, resumed: bool = False) -> None:
        job = self._jobs[job_id]
        billed = False
        try:
            generation = None
            try:
                if job.state != states.GENERATED:  # else only the delivery is left
                    generation = await self._generate(job, resumed=resumed)
                    if generation is None:
                        return  # back in its place (429), or cancelled before it started
                    billed = True
            finally:
                # The API call is over: its slot goes to the next job while this one is
                # stored and posted.
                self._free_slot(job)
            if generation is not None:
                await self._save(job, generation)
            await self._deliver(job)
        except WaitTooLong as error:
            self._cooldowns.hold_until(job.requester_id, error.until)
            await self._fail(job, error, refund=False)
        except (OutOfCredits, AccessDenied) as error:
            if error.status not in PAUSING_STATUSES:
                await self._fail(job, error, refund=True)
            else:
                await self._pause(job, error)
        except SegmindError as error:
            await self._fail(job, error, refund=not error.may_have_billed)
        except asyncio.CancelledError:
            self._in_background(self._presenter.show_interrupted(job), job.id)
            raise
        except Exception as error:
            await self._fail(job, error, refund=not billed)
        finally:
            self._running.pop(job_id, None)
            if job_id not in self.queue:
                self._jobs.pop(job_id, None)
                self._resumed.discard(job_id)

    async def _pause(self, job: Job, error: SegmindError) -> None:
        """Hold everything: this job goes back to its place, nothing is failed or charged."""
        first = self.paused is None
        if first:  # before any await: the dispatcher must not start another job meanwhile
            self.paused = PAUSE_REASONS[error.status or 0]
            log.error("generation paused for everyone: segmind %s %s", error.status, error.message)
        reason = self.paused or ""
        if first:
            await self.store.set_fact(PAUSED, reason)  # a restart must not lift it
        await self.store.requeue(job.id)
        self.queue.put_back(job.id, job.requester_id)
        self._cooldowns.refund(job.requester_id)
        if not first:
            self._in_background(self._presenter.show_paused(job, reason), job.id)
            return
        for queued_id in self.queue.order():
            queued = self._jobs.get(queued_id)
            if queued is not None:
                self._in_background(self._presenter.show_paused(queued, reason), queued_id)
        await self._present(
            self._presenter.alert_owner(
                f"⏸️ Generation is paused: {reason} (Segmind answered {error.status}: "
                f"{error.message}). {len(self.queue)} request(s) are waiting and nothing was "
                "charged for them. Fix the cause, then run `/admin resume`."
            )
        )

    async def _check_credits(self, remaining: float | None) -> None:
        """Warn the owner, at most once a day, when the account's credits run low."""
        threshold = self.low_credits_warning
        now = self._clock()
        if remaining is None or threshold is None or remaining >= threshold:
            return
        if now - self._credits_warned_at < DAY_SECONDS:
            return
        self._credits_warned_at = now
        await self._present(
            self._presenter.alert_owner(
                f"⚠️ The bot's Segmind credits are running low: {remaining:.2f} left "
                f"(warning below {threshold:.2f}). Top up before they run out."
            )
        )

    def _free_slot(self, job: Job) -> None:
        self._in_flight -= 1
        self.queue.done(job.requester_id)
        self._kick()

    async def _generate(self, job: Job, *, resumed: bool) -> Generation | None:
        """The API part of a job; None when it did not run after all."""
        if job.ticket is not None:
            # Submitted (and paid for) before a restart: collect it, never submit again.
            await self._present(self._presenter.show_running(job, resumed=True))
            started_at = job.started_at
            generation = await self._client.collect(job.ticket)
        else:
            started_at = self._clock()
            if not await self.store.start(job.id, started_at):
                return None  # cancelled between leaving the queue and starting
            # Shown alongside the call rather than before it: the API's slot is the scarce thing.
            self._in_background(self._presenter.show_running(job, resumed=resumed), job.id)
            generation = await self._submit(job)
        if generation is not None and started_at is not None:
            self._note_duration(self._clock() - started_at)
        return generation

    def _note_duration(self, seconds: float) -> None:
        self._durations.append(seconds)
        self._typical_duration = statistics.median(self._durations)

    async def _submit(self, job: Job) -> Generation | None:
        """The paid call. None when a 429 sent the job back to its place in the queue."""
        body = await self._body(job)
        try:
            generation = await self._client.generate(
                body, on_ticket=partial(self._remember_ticket, job.id)
            )
        except RateLimited as limited:
            until = self.gate.close(limited.retry_at)
            log.warning("segmind answered 429; holding every request until %.0f", until)
            if until - self._clock() > self._max_wait:
                raise WaitTooLong(until) from None
            await self.store.requeue(job.id)
            self.queue.put_back(job.id, job.requester_id)
            self._in_background(self._presenter.show_waiting(job, until), job.id)
            return None
        self.gate.succeeded()
        return generation

    async def _remember_ticket(self, job_id: int, ticket: Ticket) -> None:
        await self.store.set_ticket(job_id, ticket)

    async def _body(self, job: Job) -> dict[str, Any]:
        images = await self.store.images(job.id)
        character = _image_input(images[states.CHARACTER])
        pose = _image_input(images[states.POSE]) if states.POSE in images else None
        return PoseRequest(job.options, character, pose).api_body(self._image_input)

    async def _save(self, job: Job, generation: Generation) -> None:
        image = generation.image
        result = StoredImage(states.RESULT, image.format, image.width, image.height, image.data)
        usage = dict(generation.usage)
        cost = _dollars(usage.get("x-cost"))
        await self.store.save_result(job.id, result, usage, self._clock(), cost=cost)
        await self._check_credits(_dollars(usage.get("x-remaining-credits")))
        log.info(
            "job %s generated for user %s: seed=%s %s",
            job.id,
            job.requester_id,
            job.options.seed,
            " ".join(f"{key}={value}" for key, value in generation.usage.items()),
        )

    async def _deliver(self, job: Job) -> None:
        await self._settle(job.id)
        result = (await self.store.images(job.id))[states.RESULT]
        image = GeneratedImage(result.data, result.format, result.width, result.height)
        message_id = await self._presenter.deliver(job, image)
        await self.store.mark_delivered(job.id, message_id, self._clock())
        log.info("job %s delivered as message %s", job.id, message_id)

    async def _fail(self, job: Job, error: Exception, *, refund: bool) -> None:
        reason = f"{type(error).__name__}: {getattr(error, 'message', None) or error}"
        await self.store.fail(job.id, reason, self._clock())
        if refund:
            self._cooldowns.refund(job.requester_id)
        if isinstance(error, SegmindError):
            # 401/403/404/406 need the owner: a bad key, permissions, model name or credits.
            level = logging.ERROR if error.status in (401, 403, 404, 406) else logging.WARNING
            log.log(level, "job %s failed: %s %s", job.id, error.status, reason)
        else:
            log.info("job %s failed: %s", job.id, reason)
        await self._settle(job.id)
        await self._present(self._presenter.report_failure(job, error))

    # Queue cards

    async def _report_positions_forever(self) -> None:
        while True:
            await asyncio.sleep(STATUS_INTERVAL_SECONDS)
            if not self.paused:  # while paused, the cards say so and keep saying it
                self._report_positions()

    def _report_positions(self) -> None:
        now = self._clock()
        order = self.queue.order()
        for position, job_id in enumerate(order, start=1):
            starts_at = self.estimate_start(position)
            front = position <= FRONT_POSITIONS
            gap = FRONT_REFRESH_SECONDS if front else BACK_REFRESH_SECONDS
            if self._shown.get(job_id) == _card_key(position, starts_at):
                continue
            if now - self._refreshed.get(job_id, 0.0) < gap:
                continue
            self._note_shown(job_id, position, starts_at)
            self._edit_in_background(job_id, position, starts_at)
        queued = set(order)
        for job_id in [job_id for job_id in self._shown if job_id not in queued]:
            del self._shown[job_id]
            self._refreshed.pop(job_id, None)

    def _note_shown(self, job_id: int, position: int, starts_at: float) -> None:
        self._shown[job_id] = _card_key(position, starts_at)
        self._refreshed[job_id] = self._clock()

    def _edit_in_background(self, job_id: int, position: int, starts_at: float) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            resumed = job_id in self._resumed
            self._in_background(
                self._presenter.show_queued(job, position, starts_at, resumed=resumed), job_id
            )

    def _in_background(self, update: Coroutine[Any, Any, None], job_id: int) -> None:
        """Show something without waiting for it. A job's updates go out in order, after the
        ones before them, and at most a few edits are under way at once."""
        previous = self._pending.get(job_id)

        async def edit() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            async with self._edits:
                await self._present(update)

        task = asyncio.create_task(edit(), name=f"card-{job_id}")
        self._pending[job_id] = task
        task.add_done_callback(lambda done: self._forget_pending(job_id, done))

    def _forget_pending(self, job_id: int, task: asyncio.Task[None]) -> None:
        if self._pending.get(job_id) is task:
            del self._pending[job_id]

    async def _settle(self, job_id: int) -> None:
        """Wait for a job's updates still under way, so that nothing shows after its result."""
        pending = self._pending.get(job_id)
        if pending is not None:
            await asyncio.wait([pending])

    # Presenting

    @property
    def _presenter(self) -> Presenter:
        if self.presenter is None:
            raise RuntimeError("no presenter set")
        return self.presenter

    async def _present(self, update: Coroutine[Any, Any, None]) -> None:
        """Show something to a user; a failure to show it never stops the job."""
        try:
            await update
        except Exception:
            log.exception("could not update a job's message")


def _dollars(header: str | None) -> float | None:
    """A dollar amount from a usage header, or None when absent or not a number."""
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _card_key(position: int, starts_at: float) -> tuple[int, int]:
    """What a queue card shows: its place, and its start time to ten seconds or so."""
    return position, round(starts_at / 10)


def _image_input(image: StoredImage) -> ImageInput:
    prepared = PreparedImage(image.data, image.format, image.width, image.height)
    return ImageInput(prepared, image.source_url or "")
