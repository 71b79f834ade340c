"""How long the claim transaction takes: `SharedQueue.claim` timed in this process, against a
real database holding a long queue, with one claimer or several at once.

Each claimer has its own connection, as each process of the bot has. The queue is kept in its
steady state: every slot but one is held by jobs of another process, each claim finds the one
free slot and starts the next job in fair order (or, when another claimer was quicker, finds
none), and the job started is put back as soon as it was claimed, as if it had finished. The
clock handed to `claim` steps on by a little more than a window / rpm a claim, so the rate window
always has room and holds about `rpm` recent sends, as it would at full speed.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from bot.domain.pose_request import PoseOptions
from bot.storage.database import Database, connect
from bot.storage.job_queue import WINDOW_SECONDS, Limits, SharedQueue
from bot.storage.job_store import JobStore, NewJob

OPTIONS = PoseOptions(
    prompt="the hero, sitting on a rock, waving",
    negative_prompt="",
    seed=1,
    steps=10,
    guidance=3.0,
    size="square",
)
# Whoever holds the other slots: a process whose lease never runs out during the bench.
ELSEWHERE = "another-process"


@dataclass(frozen=True)
class ClaimTimings:
    seconds: list[float]  # one per claim, all claimers together
    started: int  # claims that started a job (the others found the slot taken)


def new_job(requester_id: int, interaction_id: int, now: float) -> NewJob:
    return NewJob(
        requester_id=requester_id,
        guild_id=1,
        channel_id=2,
        application_id=3,
        interaction_id=interaction_id,
        token="bench",  # noqa: S106 - not a secret: nothing is ever posted with it
        token_expires_at=now + 900,
        status_message_id=None,
        upload_limit=10 * 2**20,
        options=OPTIONS,
        created_at=now,
    )


async def fill(store: JobStore, jobs: int, people: int, now: float) -> None:
    """`jobs` queued jobs, from `people` users taking turns."""
    for n in range(jobs):
        await store.add_job(new_job(1000 + n % people, 10**9 + n, now), [])


async def time_claims(
    url: str,
    *,
    jobs: int = 1000,
    people: int = 100,
    claims: int = 2000,
    claimers: int = 1,
    concurrency: int = 4,
    rpm: int = 600,
) -> ClaimTimings:
    """Time `claims` claims made by `claimers` at once against `jobs` queued jobs at `url`."""
    now = time.time()
    store = JobStore(await connect(url))
    databases: list[Database] = []
    try:
        await store.migrate()
        await fill(store, jobs, people, now)
        # The other slots are busy elsewhere for the whole bench.
        held = Limits(concurrency - 1, rpm, lease_seconds=10**9)
        await SharedQueue(store.database).claim(ELSEWHERE, now, held, start_new=True)
        databases = [await connect(url) for _ in range(claimers)]
        limits = Limits(concurrency, rpm, lease_seconds=60)
        ticks = itertools.count(1)
        step = WINDOW_SECONDS / rpm * 1.01
        seconds: list[float] = []
        started = 0

        async def claimer(database: Database, name: str, count: int) -> None:
            nonlocal started
            queue = SharedQueue(database)
            for _ in range(count):
                moment = now + next(ticks) * step
                begun = time.perf_counter()
                claim = await queue.claim(name, moment, limits, start_new=True)
                seconds.append(time.perf_counter() - begun)
                started += len(claim.started)
                for job in claim.started:
                    await queue.requeue(job)

        await asyncio.gather(
            *(
                claimer(database, f"claimer-{n}", claims // claimers)
                for n, database in enumerate(databases)
            )
        )
        return ClaimTimings(seconds, started)
    finally:
        for database in databases:
            await database.close()
        await store.close()
