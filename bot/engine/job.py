"""One claimed job's life: the paid call, the result stored, the result posted, or an end the
user is told about, whatever fails on the way.

A paid result is sacred: it is kept in memory until the database has it, and a stored result
is posted again and again (Discord's 5xx and 429 pass) until it is delivered or this process
gives the job back. Every write names this attempt, so a job that another process took over
is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.backoff import Backoff, retry
from bot.domain.images import CheckedImage
from bot.domain.pose_request import ImageInput, PoseRequest
from bot.domain.tickets import Ticket
from bot.domain.translatable import mark
from bot.engine.cards import CardBoard, present
from bot.engine.cooldowns import UserCooldowns
from bot.engine.credits import CreditWatch
from bot.engine.job_events import Billed, JobEvents
from bot.engine.presenter import Presenter, WaitTooLong
from bot.segmind import (
    AccessDenied,
    Generation,
    ModelRetired,
    OutOfCredits,
    RateLimited,
    SegmindClient,
    SegmindError,
    SpendLimitReached,
)
from bot.storage.database import Work, is_connection_lost
from bot.storage.job_queue import SharedQueue
from bot.storage.job_store import (
    CHARACTER,
    FAILED,
    GENERATED,
    POSE,
    QUEUED,
    RESULT,
    RUNNING,
    Job,
    JobStore,
    StoredImage,
)
from bot.storage.turns import off_the_paid_path, on_the_paid_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PauseReason:
    """Why everyone waits: `reason` stored in English, each card showing it in its own
    language; `advice` what the owner can do about it (owner alerts are in English)."""

    reason: str
    advice: str


# Answers that no retry can fix and that would fail every job alike: pause instead. Keyed by
# the error's kind, or by the status of an AccessDenied. Any other answer ends one job only.
PAUSE_REASONS: dict[type[SegmindError] | int, PauseReason] = {
    OutOfCredits: PauseReason(
        mark("the bot's Segmind credits have run out"),
        "Top up the credits in Segmind's console",
    ),
    SpendLimitReached: PauseReason(
        mark("the Segmind team's spend limit for this period is reached"),
        "Raise the team's spend limit in Segmind's console (or wait for the next period)",
    ),
    ModelRetired: PauseReason(
        mark("Segmind has retired the model the bot uses"),
        "Set `SEGMIND_MODEL` to a model Segmind still serves and restart the bot",
    ),
    401: PauseReason(
        mark("Segmind refused the bot's API key"),
        "Put a valid key in `SEGMIND_API_KEY` and restart the bot",
    ),
    403: PauseReason(
        mark("Segmind says the bot's account may not use this model"),
        "Allow the model for the bot's account or team in Segmind's console",
    ),
    # Only a submit can answer it: a poll's 404 is an expired record (ResultExpired).
    404: PauseReason(
        mark("Segmind does not know the model the bot asks for"),
        "Check `SEGMIND_MODEL` and `SEGMIND_BASE_URL` and restart the bot",
    ),
}


def pause_reason(error: SegmindError) -> PauseReason | None:
    """Why this answer pauses everyone, or None when it ends its own job only."""
    if isinstance(error, AccessDenied):
        return PAUSE_REASONS.get(error.status or 0)
    return PAUSE_REASONS.get(type(error))


# Posting a result again after Discord failed: from 1 s, doubling, to at most a minute apart.
DELIVERY_RETRY_BASE_SECONDS = 1.0
DELIVERY_RETRY_MAX_SECONDS = 60.0
# A result is worth trying until it arrives; a failure notice for as long as Discord's
# incidents usually last (a job that failed has nothing else to show its requester).
FAILURE_NOTICE_PATIENCE_SECONDS = 15 * 60
# Storing a paid result while the database is unreachable: each try already rides out a
# failover (bot/storage/database.py); after this many the outage is the owner's to know.
SAVE_TRIES_BEFORE_ALERT = 3


class LostJob(Exception):
    """Another process took the job over (this one's lease ran out): leave it alone."""


class JobLife:
    def __init__(
        self,
        store: JobStore,
        queue: SharedQueue,
        client: SegmindClient,
        cooldowns: UserCooldowns,
        cards: CardBoard,
        presenter: Presenter,
        *,
        image_input: str,
        max_wait: float,
        slot_freed: Callable[[], None],
        handing_on: Callable[[Work[Job | None]], Awaitable[Job | None]],
        credit_watch: CreditWatch,
        events: JobEvents,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self._client = client
        self._cooldowns = cooldowns
        self._cards = cards
        self._presenter = presenter
        self._image_input = image_input
        self._max_wait = max_wait
        self._slot_freed = slot_freed
        self._handing_on = handing_on
        self._credit_watch = credit_watch
        self._events = events
        self._clock = clock
        # The jobs of this process whose API call is under way, from their start until their
        # result is stored or they leave the call otherwise: each holds one API slot.
        self.in_call: set[int] = set()

    async def run(
        self, job: Job, *, resumed: bool, images: dict[str, StoredImage] | None = None
    ) -> None:
        """Carry `job` to its end from where it is. `images`: its images, when its claim read
        them already."""
        on_the_paid_path()  # its statements go before a request's reads (bot/storage/turns.py)
        # A stored result was paid for: whatever happens to its delivery, it stays billed.
        billed = job.state == GENERATED
        try:
            result: CheckedImage | None = None  # a result stored before is read back
            if job.state == RUNNING:
                self.in_call.add(job.id)
                try:
                    generation = await self._generate(job, resumed=resumed, images=images)
                    if generation is None:
                        return  # back in its place (429, pause)
                    billed = True
                    job = await self._save(job, generation)
                finally:
                    self.in_call.discard(job.id)
                result = generation.image
            await self._deliver(job, result)
        except LostJob:
            log.info("job %s was taken over by another process; leaving it", job.id)
        except WaitTooLong as error:
            self._cooldowns.hold_until(job.requester_id, error.until)
            await self._fail(job, error, refund=False, hold_until=error.until)
        except SegmindError as error:
            self._events.segmind_error(error)
            pause = pause_reason(error)
            if pause is not None:
                await self._pause(job, error, pause)
            else:
                await self._fail(job, error, refund=not error.may_have_billed)
        except asyncio.CancelledError:
            # Cut off by a shutdown: the job is given back and finished by the next process.
            self._cards.show(job.id, self._presenter.show_interrupted(job))
            raise
        except Exception as error:
            await self._fail(job, error, refund=not billed)

    # The paid call

    async def _generate(
        self, job: Job, *, resumed: bool, images: dict[str, StoredImage] | None
    ) -> Generation | None:
        """The API part of a job; None when it went back to its place instead."""
        if job.ticket is not None:
            # Submitted (and paid for) before: collect it, never submit again.
            self._cards.show(job.id, self._presenter.show_running(job, resumed=True))
            generation = await self._client.collect(job.ticket)
        else:
            # Shown alongside the call rather than before it: the API's slot is the scarce thing.
            self._cards.show(job.id, self._presenter.show_running(job, resumed=resumed))
            generation = await self._submit(job, images)
        if generation is not None and job.started_at is not None:
            self._cards.note_duration(self._clock() - job.started_at)
        return generation

    async def _submit(self, job: Job, images: dict[str, StoredImage] | None) -> Generation | None:
        if images is None:
            images = await self.store.images(job.id)
        body = await self._body(job, images)
        try:
            generation = await self._client.generate(
                body, on_ticket=partial(self._remember_ticket, job)
            )
        except RateLimited as limited:
            self._events.segmind_error(limited)
            until = await self.queue.close_gate(limited.retry_at, self._clock())
            log.warning("segmind answered 429; holding every request until %.0f", until)
            if until - self._clock() > self._max_wait:
                raise WaitTooLong(until) from None
            if not await self.queue.requeue(job) and not await self._requeued(job):
                raise LostJob from None
            await self._cards.settle(job.id)
            if await self.queue.note_card(job.id, f"waiting:{round(until)}"):
                self._cards.show(job.id, self._presenter.show_waiting(job, until))
            self._slot_freed()
            return None
        # That the request went through (the 429 backoff starts afresh) is stored with its
        # result, in the transaction that hands its slot on.
        return generation

    async def _requeued(self, job: Job) -> bool:
        """After a requeue that changed nothing: is the job back in the queue all the same (a
        retried commit whose answer was lost)? Then it waits there as if requeued now."""
        stored = await self.store.job(job.id)
        return stored is not None and stored.state == QUEUED

    async def _remember_ticket(self, job: Job, ticket: Ticket) -> None:
        if not await self.store.set_ticket(job, ticket):
            raise LostJob

    async def _body(self, job: Job, images: dict[str, StoredImage]) -> dict[str, Any]:
        character = _image_input(images[CHARACTER])
        pose = _image_input(images[POSE]) if POSE in images else None
        return PoseRequest(job.options, character, pose).api_body(self._image_input)

    # The result, stored and posted

    async def _save(self, job: Job, generation: Generation) -> Job:
        """Store the paid result; it stays in memory until the database has it. The
        transaction that stores it also starts the next jobs in the slot it frees."""
        result = StoredImage.of(RESULT, generation.image)
        usage = dict(generation.usage)
        cost = _dollars(usage.get("x-cost"))
        stored = await self._store_result(job, result, usage, cost)
        if stored is None:
            stored = await self.store.job(job.id)
            if not _still_this_attempt(stored, job, GENERATED):
                raise LostJob
            self._slot_freed()  # a retried commit whose answer was lost: it is ours all the same
        await self._credit_watch.note_balance(_dollars(usage.get("x-remaining-credits")))
        log.info(
            "job %s generated for user %s: seed=%s %s",
            job.id,
            job.requester_id,
            job.options.seed,
            " ".join(f"{key}={value}" for key, value in generation.usage.items()),
        )
        assert stored is not None
        return stored

    async def _store_result(
        self, job: Job, result: StoredImage, usage: dict[str, str], cost: float | None
    ) -> Job | None:
        """`store.save_result`, tried again while the database is unreachable and the job is
        still this attempt's; the owner is told once the outage lasts.

        Why the job is not given back after a number of tries: the paid image is in this
        process's memory only. Another process cannot store what it does not have: given back,
        a sync job would go back to the queue and be paid for again, and an async one would be
        collected again only while Segmind still keeps it. And giving back needs the very
        database that is unreachable. So the image is held, and stored, here: the owner is
        told that a restart now would lose it. A statement that fails for another reason (not
        a lost connection) would fail every time: that is raised at once, ending the job as
        failed (billed, not refunded) instead of holding an API slot for ever."""
        backoff = Backoff(DELIVERY_RETRY_BASE_SECONDS, DELIVERY_RETRY_MAX_SECONDS)
        tries = 0
        while True:
            try:
                return await self.store.save_result(
                    job, result, usage, self._clock(), cost=cost, within=self._handing_on
                )
            except Exception as error:
                if not is_connection_lost(error):
                    log.exception("could not store the paid result of job %s", job.id)
                    raise
                tries += 1
                log.warning(
                    "could not store the result of job %s (%s, try %d); keeping it in memory",
                    job.id,
                    type(error).__name__,
                    tries,
                )
                if tries == SAVE_TRIES_BEFORE_ALERT:
                    await present(
                        self._presenter.alert_owner(
                            f"⚠️ The database has been unreachable for a while: the paid "
                            f"result of job {job.id} is held in this process's memory until it "
                            "can be stored. Restarting the bot now would lose it."
                        )
                    )
            await backoff.wait()
            if not await self._still_ours(job):
                raise LostJob

    async def _still_ours(self, job: Job) -> bool:
        """Whether no other process took the job over; yes while the database cannot say."""
        try:
            return await self.queue.still_owns(job)
        except Exception as error:
            if not is_connection_lost(error):
                raise
            return True

    async def _deliver(self, job: Job, result: CheckedImage | None) -> None:
        await self._cards.settle(job.id)
        image = result if result is not None else (await self.store.images(job.id))[RESULT].image
        presenter = self._presenter
        backoff = Backoff(DELIVERY_RETRY_BASE_SECONDS, DELIVERY_RETRY_MAX_SECONDS)
        while True:
            if not await self.queue.still_owns(job):
                raise LostJob
            try:
                message_id = await presenter.deliver(job, image)
                break
            except Exception as error:
                self._events.discord_error(error)
                if not presenter.is_transient(error):
                    raise
                delay = backoff.next_delay()
                log.warning(
                    "could not post the result of job %s (%s); trying again in %.0fs",
                    job.id,
                    _describe(error),
                    delay,
                )
                await backoff.sleep(delay)
        # The user has the result: recording it must not hold up the handover of an API slot.
        off_the_paid_path()
        now = self._clock()
        if not await self.store.mark_delivered(job, message_id, now):
            stored = await self.store.job(job.id)
            if stored is None or stored.result_message_id != message_id:
                raise LostJob
        log.info("job %s delivered as message %s", job.id, message_id)
        self._events.job_end(job, "delivered", "true", now)

    # Ends other than a result

    async def _fail(
        self, job: Job, error: Exception, *, refund: bool, hold_until: float | None = None
    ) -> None:
        # The API's own words when it gave some; a UserError's English text otherwise.
        detail = error.message if isinstance(error, SegmindError) and error.message else error
        reason = f"{type(error).__name__}: {detail}"
        now = self._clock()
        # A call that may have been charged is kept in the ledger, in dollars only.
        unsure = isinstance(error, SegmindError) and error.may_have_billed
        try:
            moved = await self.store.fail(
                job, reason, now, refund=refund, hold_until=hold_until, possibly_billed=unsure
            ) or await self._failed_at(job, now)
        except Exception:
            # The database is away: give the job back so that it ends (or runs) elsewhere.
            log.exception("could not record the failure of job %s", job.id)
            await self._give_back(job)
            return
        if not moved:
            log.info("job %s ended elsewhere; not reporting %s", job.id, reason)
            return
        self._events.job_end(job, "failed", _billed(job, refund, hold_until, unsure), now)
        was_running = job.state == RUNNING
        if was_running:
            self._slot_freed()
        if refund:
            self._cooldowns.refund(job.requester_id, job.interaction_id)
        if isinstance(error, SegmindError):
            # A 406 that failed one job may be words Segmind newly uses for a stopped account.
            level = logging.ERROR if error.status in (401, 403, 404, 406) else logging.WARNING
            log.log(level, "job %s failed: %s %s", job.id, error.status, reason)
        else:
            log.info("job %s failed: %s", job.id, reason)
        await self._cards.settle(job.id)
        await self._tell_failure(job, error)

    async def _failed_at(self, job: Job, now: float) -> bool:
        """After a failure write that changed nothing: was it this very one, made already (a
        retried commit whose answer was lost)? Then the requester is still to be told."""
        stored = await self.store.job(job.id)
        return stored is not None and stored.state == FAILED and stored.finished_at == now

    async def _tell_failure(self, job: Job, error: Exception) -> None:
        presenter = self._presenter

        def warn(problem: Exception, delay: float) -> None:
            self._events.discord_error(problem)
            log.warning(
                "could not tell the requester of job %s (%s); trying again in %.0fs",
                job.id,
                _describe(problem),
                delay,
            )

        try:
            await retry(
                partial(presenter.report_failure, job, error),
                Backoff(DELIVERY_RETRY_BASE_SECONDS, DELIVERY_RETRY_MAX_SECONDS),
                retry_if=presenter.is_transient,
                give_up_at=self._clock() + FAILURE_NOTICE_PATIENCE_SECONDS,
                clock=self._clock,
                on_retry=warn,
            )
        except Exception as problem:
            self._events.discord_error(problem)
            log.exception("could not tell the requester of job %s", job.id)

    async def _give_back(self, job: Job) -> None:
        try:
            await self.queue.release(job.owner or "", [job.id])
        except Exception:
            log.exception("could not give back job %s; it is taken over after its lease", job.id)

    async def _pause(self, job: Job, error: SegmindError, pause: PauseReason) -> None:
        """Hold everything: this job goes back to its place, nothing is failed or charged."""
        reason = pause.reason
        first = await self.queue.pause(reason)
        if first:
            log.error("generation paused for everyone: segmind %s %s", error.status, error.message)
            self._events.pause(reason, "segmind")
        # Nothing was billed: the cooldown it started is given back in the same transaction.
        requeued = await self.queue.requeue(job, refund_cooldown=True)
        if not requeued and not await self._requeued(job):
            raise LostJob
        self._slot_freed()
        self._cooldowns.refund(job.requester_id, job.interaction_id)
        await self._cards.settle(job.id)
        if await self.queue.note_card(job.id, f"paused:{reason}"):
            self._cards.show(job.id, self._presenter.show_paused(job, reason))
        if first:
            waiting = len((await self.queue.snapshot(self._clock(), with_jobs=False)).order)
            await present(
                self._presenter.alert_owner(
                    f"⏸️ Generation is paused: {reason} (Segmind answered {error.status}: "
                    f"{error.message}). {waiting} request(s) are waiting and nothing was "
                    f"charged for them. {pause.advice}, then run `/admin resume`."
                )
            )


def _billed(job: Job, refund: bool, hold_until: float | None, unsure: bool) -> Billed:
    """Whether a failed job was paid for, as the spend ledger counts it: its result was
    stored (generated), or the call may have been charged without one (the ledger's unsure
    row), or it was charged for sure though nothing was stored (not refunded for any other
    reason than waiting out the API's reset)."""
    if job.generated_at is not None:
        return "true"
    if unsure:
        return "maybe"
    return "true" if not refund and hold_until is None else "false"


def _still_this_attempt(stored: Job | None, job: Job, state: str) -> bool:
    """After a write that changed nothing: was it made already (a retried commit)?"""
    return (
        stored is not None
        and stored.state == state
        and stored.owner == job.owner
        and stored.attempts == job.attempts
    )


def _dollars(header: str | None) -> float | None:
    """A dollar amount from a usage header, or None when absent or not a number."""
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:200]


def _image_input(image: StoredImage) -> ImageInput:
    return ImageInput(image.image, image.source_url or "")
