"""Many processes of the bot on one PostgreSQL database, as real child processes, as in
tests/system/test_many_processes.py: throughput behind one gateway with 1, 2 and 3 workers, a worker
killed with SIGKILL while its jobs are out at the API, and Heroku's overlapping restart.

The fake Discord sends every interaction to every gateway session, as Discord does; the first
answer wins. Each run gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import math
import random
import signal
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.postgres import fresh_schema
from bench.workload import (
    NO_USER_LIMITS,
    all_delivered,
    ideal_makespan,
    image_bytes,
    slot_idle,
    users,
)
from bot.engine.runner import POLL_SECONDS_LISTENING
from bot.settings import Settings
from bot.storage.database import connect
from bot.storage.job_store import JobStore
from tests.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import card_text, pose, private_text, result_of

# What a process logs once it takes part (INFO): a worker after its REST login, and a process
# with a gateway once it is connected.
WORKER_READY = "worker logged in over REST"
GATEWAY_READY = "logged in as"
START_TIMEOUT = 90.0
# Requests arrive this often during a restart's overlap, so that some reach each process at
# each stage of its start and of its shutdown.
SEND_EVERY = 0.1
# A bot with no job left and no call out at the API for this long has finished what it will.
IDLE_SECONDS = 5.0


class Fleet:
    """Bot processes sharing one database and the two fakes; all are killed at the end."""

    def __init__(
        self,
        workdir: Path,
        discord_api: FakeDiscord,
        segmind: FakeSegmind,
        database_url: str,
        env: dict[str, str],
    ) -> None:
        self.workdir = workdir
        self.discord_api = discord_api
        self.segmind = segmind
        self.database_url = database_url
        self.env = env
        self.processes: list[BotProcess] = []

    async def launch(self, name: str, role: str, **env: str) -> BotProcess:
        settings = {
            "DATABASE_URL": self.database_url,
            "SEGMIND_BASE_URL": self.segmind.base_url,
            # INFO: readiness and takeovers are read from the logs.
            "LOG_LEVEL": "INFO",
            "BOT_ROLE": role,
            **NO_USER_LIMITS,
            **self.env,
            **env,
        }
        process = await BotProcess.start(self.discord_api, self.workdir, settings, name)
        self.processes.append(process)
        return process

    async def ready(self, process: BotProcess, timeout: float = START_TIMEOUT) -> None:
        """Until `process` takes part: its gateway is connected, or its worker logged in."""
        deadline = time.monotonic() + timeout
        while not any(line in process.log for line in (WORKER_READY, GATEWAY_READY)):
            if process.process.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"a bot process did not start; its log:\n{process.log[-2000:]}")
            await asyncio.sleep(0.05)
        if GATEWAY_READY in process.log:
            await self.discord_api.wait_for(lambda: bool(self.discord_api.synced_commands), 30)

    async def store(self) -> JobStore:
        return JobStore(await connect(self.database_url))

    async def kill_all(self) -> None:
        for process in self.processes:
            await process.kill_if_running()


@asynccontextmanager
async def fleet(workdir: Path, env: dict[str, str], **segmind_options: Any) -> AsyncIterator[Fleet]:
    async with fresh_schema() as database_url:
        discord_api = FakeDiscord()
        segmind = FakeSegmind(**segmind_options)
        await discord_api.start()
        await segmind.start()
        processes = Fleet(workdir, discord_api, segmind, database_url, env)
        try:
            yield processes
        finally:
            await processes.kill_all()
            await segmind.close()
            await discord_api.close()


async def poll(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Until the (async) `condition()` holds, looking every 20 ms."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.02)


async def at_least(store: JobStore, wanted: int, condition: str, *args: Any) -> bool:
    """Whether `wanted` jobs or more meet `condition` (SQL with $1, $2, … for `args`)."""
    rows = await store.database.fetch(
        f"SELECT COUNT(*) AS n FROM jobs WHERE {condition}",  # noqa: S608 - the bench's constants
        *args,
    )
    return int(rows[0]["n"]) >= wanted


# Throughput


async def throughput(
    workdir: Path,
    *,
    workers: int,
    jobs: int,
    people: int,
    concurrency: int,
    rpm: int,
    latency: float,
) -> dict[str, Any]:
    """Makespan of `jobs` from `people` users through one gateway and `workers` workers."""
    env = {"SEGMIND_RPM": str(rpm), "SEGMIND_MAX_CONCURRENCY": str(concurrency)}
    async with fleet(workdir, env, latency=latency, rpm=rpm) as processes:
        discord_api, segmind = processes.discord_api, processes.segmind
        gateway = await processes.launch("gateway", "gateway")
        started = [await processes.launch(f"worker{n}", "worker") for n in range(workers)]
        await asyncio.gather(*(processes.ready(p) for p in (gateway, *started)))
        character = image_bytes(256)
        crowd = users(discord_api, people)
        interactions = await asyncio.gather(
            *(pose(discord_api, user=crowd[n % people], character=character) for n in range(jobs))
        )
        await all_delivered(discord_api, interactions, timeout=900)
        first_start = min(submit.started_at for submit in segmind.submits)
        makespan = time.monotonic() - first_start
        service = statistics.mean(s.finished_at - s.started_at for s in segmind.submits)
        # A worker logs a delivery just after the result is posted.
        shares: list[int] = []
        for _ in range(50):
            shares = [p.log.count(" delivered as message ") for p in started]
            if sum(shares) >= jobs:
                break
            await asyncio.sleep(0.1)
        return {
            "makespan": makespan,
            "ideal": ideal_makespan(jobs, concurrency, rpm, latency),
            "ideal_measured": ideal_makespan(jobs, concurrency, rpm, service),
            "service": service,
            "rate_limited": segmind.rate_limited_count,
            "slot_idle": slot_idle(
                [(s.started_at, s.finished_at) for s in segmind.submits], concurrency
            ),
            "max_in_flight": segmind.max_in_flight,
            "per_worker": shares,
        }


# A worker killed with SIGKILL


@dataclass
class Takeover:
    lease_left: float  # how long the killed worker's leases still ran at the kill
    taken_over: float  # kill → every job belongs to the survivor
    delivered: float  # kill → every result posted
    generating: int  # generations still running at the API at the kill
    jobs: int
    submits: int  # requests the API received: `jobs` unless one was submitted again
    taken_in_log: int  # "taking over job" lines in the survivor's log


async def takeover(workdir: Path, *, lease: float | None, jobs: int, latency: float) -> Takeover:
    """A worker with `jobs` async generations out at the API is killed while another worker
    runs; how long until the other has taken them over, collected and delivered them."""
    env = {"SEGMIND_MODE": "async", "SEGMIND_MAX_CONCURRENCY": str(jobs), "SEGMIND_RPM": "600"}
    if lease is not None:
        env["JOB_LEASE_SECONDS"] = str(lease)
    async with fleet(workdir, env, latency=latency) as processes:
        discord_api, segmind = processes.discord_api, processes.segmind
        gateway = await processes.launch("gateway", "gateway")
        doomed = await processes.launch("doomed", "worker")
        await asyncio.gather(processes.ready(gateway), processes.ready(doomed))
        interactions = [
            await pose(discord_api, user=person, prompt=f"request {n}")
            for n, person in enumerate(users(discord_api, jobs))
        ]
        store = await processes.store()
        try:
            await poll(lambda: at_least(store, jobs, "status_url IS NOT NULL"), 60, "the submits")
            # Started only now, so that the doomed worker holds every job; after a random
            # pause, so that the survivor's own looks at the queue (every few seconds when
            # nothing wakes it) fall anywhere against the doomed worker's lease renewals.
            await asyncio.sleep(random.uniform(0, POLL_SECONDS_LISTENING))
            survivor = await processes.launch("survivor", "worker")
            await processes.ready(survivor)
            # The kill falls anywhere between two of the doomed worker's lease renewals.
            renewal = (lease or Settings.job_lease_seconds) / 3
            await asyncio.sleep(random.uniform(0, renewal))
            rows = await store.database.fetch("SELECT owner, lease_until FROM jobs")
            [doomed_owner] = {row["owner"] for row in rows}
            doomed.process.send_signal(signal.SIGKILL)
            killed_at, killed_wall = time.monotonic(), time.time()
            generating = segmind.in_flight
            await doomed.process.wait()
            lease_left = max(float(row["lease_until"]) for row in rows) - killed_wall
            await poll(
                lambda: at_least(store, jobs, "owner IS DISTINCT FROM $1", doomed_owner),
                300,
                "the takeover",
            )
            taken_over = time.monotonic() - killed_at
            await all_delivered(discord_api, interactions, timeout=300)
            done = time.monotonic() - killed_at
        finally:
            await store.close()
        return Takeover(
            lease_left=lease_left,
            taken_over=taken_over,
            delivered=done,
            generating=generating,
            jobs=jobs,
            submits=len(segmind.submits),
            taken_in_log=survivor.log.count("taking over job"),
        )


# Heroku's overlapping restart


@dataclass
class Overlap:
    requests: int
    during: int  # sent after the SIGTERM, until the old process had gone and the new was up
    overlap: float  # SIGTERM → both happened
    old_gone: float  # SIGTERM → the old process exited
    new_ready: float  # SIGTERM → the new process was connected
    no_gateway: float  # seconds within it when no process had a gateway session
    lost: list[str]  # what the user saw of each request never delivered
    refused: int  # a private answer instead of a result
    paid_twice: int  # generations billed beyond one per request
    duplicated: int  # result messages beyond one per request
    exit_codes: tuple[int | None, int | None]
    errors_logged: int  # ERROR lines and tracebacks in both logs


async def restart_overlap(
    workdir: Path,
    *,
    mode: str,
    queued: int,
    latency: float,
    latency_after: float,
    concurrency: int = 4,
) -> Overlap:
    """An `all` process with `queued` requests (some running) gets SIGTERM while its successor
    starts; requests keep coming until the old one has gone and the new one is up, and two
    more after. Every request must end delivered once and billed once.

    The generations running at the SIGTERM take `latency`, which is how long the old process
    lingers; later ones take `latency_after`, so that the queue drains soon after.
    """
    env = {
        "SEGMIND_MODE": mode,
        "SEGMIND_MAX_CONCURRENCY": str(concurrency),
        "SEGMIND_RPM": "600",
        # As on Heroku: the stopping process answers until its successor does.
        "SHUTDOWN_HANDOVER_SECONDS": "20",
    }
    async with fleet(workdir, env, latency=latency) as processes:
        discord_api, segmind = processes.discord_api, processes.segmind
        old = await processes.launch("old", "all")
        await processes.ready(old)
        crowd = users(discord_api, 8)
        interactions = [
            await pose(discord_api, user=crowd[n % 8], prompt=f"before the restart {n}")
            for n in range(queued)
        ]
        store = await processes.store()
        try:
            await poll(lambda: at_least(store, queued, "1 = 1"), 60, "every request stored")
        finally:
            await store.close()
        await discord_api.wait_for(lambda: len(segmind.submits) >= concurrency, 60)

        # Heroku: SIGTERM to the old process and the new one started at the same moment.
        old.process.send_signal(signal.SIGTERM)
        began = time.monotonic()
        segmind.latency = latency_after
        new = await processes.launch("new", "all")
        new_up = asyncio.create_task(processes.ready(new))
        during = 0
        no_gateway = 0.0
        old_gone = new_ready = math.inf
        while old.process.returncode is None or not new_up.done():
            now = time.monotonic() - began
            if old.process.returncode is not None:
                old_gone = min(old_gone, now)
            if new_up.done():
                new_ready = min(new_ready, now)
            if discord_api.live_sessions == 0:
                # Nobody would hear an interaction now; Discord would show it failed.
                no_gateway += 0.05
                await asyncio.sleep(0.05)
                continue
            prompt = f"during the overlap {during}"
            interactions.append(await pose(discord_api, user=crowd[during % 8], prompt=prompt))
            during += 1
            await asyncio.sleep(SEND_EVERY)
        await new_up
        overlap = time.monotonic() - began
        old_gone, new_ready = min(old_gone, overlap), min(new_ready, overlap)
        for n in range(2):
            interactions.append(
                await pose(discord_api, user=crowd[n], prompt=f"after the restart {n}")
            )
        # Long enough for every request to run after the restart, twice over.
        drain = 30 + 2 * math.ceil(len(interactions) / concurrency) * latency_after
        await settle(processes, interactions, drain)
        await asyncio.sleep(2.0)  # a late second result would have arrived by now
        new_exit = await new.stop(signal.SIGTERM, timeout=60)
        return Overlap(
            requests=len(interactions),
            during=during,
            overlap=overlap,
            old_gone=old_gone,
            new_ready=new_ready,
            no_gateway=no_gateway,
            lost=[_seen(i) for i in interactions if result_of(i) is None],
            refused=sum(private_text(i) is not None for i in interactions),
            paid_twice=_paid_twice(segmind),
            duplicated=_duplicated(discord_api),
            exit_codes=(old.process.returncode, new_exit),
            errors_logged=sum(
                log.count(" ERROR ") + log.count("Traceback") for log in (old.log, new.log)
            ),
        )


async def settle(processes: Fleet, interactions: list[FakeInteraction], timeout: float) -> None:
    """Until every request has ended, or the bot has had nothing to do for a few seconds
    (the rest are lost), or `timeout`."""
    store = await processes.store()
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    try:
        while not all(_ended(i) for i in interactions) and time.monotonic() < deadline:
            busy = processes.segmind.in_flight or await at_least(
                store, 1, "state IN ('queued', 'running', 'generated')"
            )
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_SECONDS:
                return
            await asyncio.sleep(0.2)
    finally:
        await store.close()


def _ended(interaction: FakeInteraction) -> bool:
    """A result, a private answer, or a cancelled card: the user knows where it stands."""
    cancelled = card_text(interaction).startswith("🚫")
    return bool(result_of(interaction) or private_text(interaction) or cancelled)


def _seen(interaction: FakeInteraction) -> str:
    """What the user saw of a request, in a few words."""
    if interaction.original is not None:
        return f"card {card_text(interaction)!r}"
    return "acknowledged, nothing after" if interaction.callbacks else "never acknowledged"


def _paid_twice(segmind: FakeSegmind) -> int:
    billed = Counter(s.body["prompt"] for s in segmind.submits if s.status == 200 and s.body)
    return sum(n - 1 for n in billed.values())


def _duplicated(discord_api: FakeDiscord) -> int:
    """Result messages beyond one per request; a result carries its request's prompt."""
    results = Counter(
        message.embeds[0].get("description") if message.embeds else message.id
        for message in discord_api.messages_with_files()
    )
    return sum(n - 1 for n in results.values())
