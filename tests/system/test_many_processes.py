"""Many processes of the bot on one database, as real processes: Heroku's overlapping restart,
two full processes side by side, a gateway with workers, a worker killed or frozen.

The fake Discord sends every interaction to every gateway session, as Discord does; the first
answer wins. Whatever happens, every request is delivered exactly once, none is refused, none
is paid for twice, and the plan's limits hold across all processes together.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.domain.fairness import order
from bot.storage.database import connect
from bot.storage.job_store import JobStore
from tests.bot_process import BotProcess
from tests.conftest import BOT_TOKEN
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import API_KEY, FakeSegmind
from tests.system.test_process import count_jobs, wait_for_jobs
from tests.user_actions import delivered, pose, private_text, result_of

# Real bot processes, started and stopped: minutes in all, so `make test` leaves them to CI.
pytestmark = pytest.mark.slow

Launch = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def launch(
    discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str, tmp_path: Path
) -> AsyncIterator[Launch]:
    """Start a bot process on the shared database; every one is killed at the end."""
    started: list[BotProcess] = []

    async def start(name: str, **env: str) -> BotProcess:
        settings = {
            "DATABASE_URL": database_url,
            "SEGMIND_BASE_URL": segmind.base_url,
            "SEGMIND_POLL_SECONDS": "0.1",
            "SEGMIND_MAX_CONCURRENCY": "2",
            "SEGMIND_RPM": "600",
            "USER_COOLDOWN_SECONDS": "0",
            "USER_MAX_QUEUED": "5",
            "JOB_LEASE_SECONDS": "3",
            **env,
        }
        process = await BotProcess.start(discord_api, tmp_path, settings, name)
        started.append(process)
        return process

    yield start
    for process in started:
        await process.kill_if_running()


async def gateway_up(discord_api: FakeDiscord, sessions: int = 1) -> None:
    await discord_api.wait_for(lambda: discord_api.live_sessions >= sessions, timeout=30)
    await discord_api.wait_for(lambda: bool(discord_api.synced_commands), timeout=30)


def users(discord_api: FakeDiscord, count: int) -> list[dict[str, object]]:
    return [discord_api.make_user(7000 + n, f"artist{n}") for n in range(count)]


async def everything_delivered_once(
    discord_api: FakeDiscord, segmind: FakeSegmind, interactions: list[FakeInteraction]
) -> None:
    """Each request has exactly one result, none was refused, none was paid for twice."""
    results = [await delivered(interaction, timeout=90) for interaction in interactions]
    assert all(private_text(i) is None for i in interactions), "nobody was refused"
    assert len({id(result) for result in results}) == len(interactions)
    assert len(discord_api.messages_with_files()) == len(interactions), "one result each"
    paid = Counter(s.body["prompt"] for s in segmind.submits if s.status == 200)
    assert sorted(paid) == sorted(r.embeds[0]["description"] for r in results)
    assert set(paid.values()) == {1}, f"paid twice: {paid}"
    assert segmind.billed == len(interactions)


def clean(log: str) -> None:
    """Nothing alarming in a process's log: no ERROR, no traceback, no secret."""
    assert " ERROR " not in log, log
    assert "Traceback" not in log, log
    assert API_KEY not in log
    assert BOT_TOKEN not in log


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_herokus_overlapping_restart_loses_refuses_and_repeats_nothing(
    launch: Launch,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    mode: str,
) -> None:
    segmind.latency = 2.0
    old = await launch("old", SEGMIND_MODE=mode, SHUTDOWN_HANDOVER_SECONDS="20")
    await gateway_up(discord_api)
    people = users(discord_api, 5)
    interactions = [
        await pose(discord_api, user=people[n % 5], prompt=f"request {n}") for n in range(10)
    ]
    await wait_for_jobs(database_url, "1 = 1", 10)
    await discord_api.wait_for(lambda: len(segmind.submits) == 2)

    # Heroku: SIGTERM to the old process and the new one started at the same moment.
    old.process.send_signal(signal.SIGTERM)
    new = await launch("new", SEGMIND_MODE=mode)
    during = [
        await pose(discord_api, user=people[n], prompt=f"during the overlap {n}") for n in range(3)
    ]
    await gateway_up(discord_api, sessions=1)
    later = [await pose(discord_api, user=people[3], prompt="after the overlap")]
    assert await asyncio.wait_for(old.process.wait(), timeout=40) == 0, old.log

    await everything_delivered_once(discord_api, segmind, interactions + during + later)
    assert segmind.max_in_flight <= 2
    synced = [r for r in discord_api.requests if r.startswith("PUT") and r.endswith("/commands")]
    assert len(synced) == 1, "commands are registered by one process only"
    assert await new.stop(signal.SIGTERM) == 0, new.log
    clean(old.log)
    clean(new.log)
    assert "received SIGTERM" in old.log
    assert "handing over" in old.log, "the old process answered until the new one did"


async def test_two_full_processes_keep_the_plans_limits_together(
    launch: Launch, discord_api: FakeDiscord, database_url: str, tmp_path: Path
) -> None:
    """10 requests from 5 users through two processes, with an API that answers 429 past 6
    requests a minute: the bot sends 6, waits out the window, sends the rest, never a 429."""
    async with FakeSegmind(rpm=6) as segmind:
        segmind.latency = 1.0
        env = {"SEGMIND_BASE_URL": segmind.base_url, "SEGMIND_RPM": "6"}
        first = await launch("first", **env)
        second = await launch("second", **env)
        await gateway_up(discord_api, sessions=2)
        people = users(discord_api, 5)
        interactions = [
            await pose(discord_api, user=people[n % 5], prompt=f"request {n}") for n in range(10)
        ]
        await everything_delivered_once(discord_api, segmind, interactions)
        assert segmind.rate_limited_count == 0
        assert segmind.max_in_flight <= 2
        sent = sorted(s.started_at for s in segmind.submits)
        for index in range(len(sent) - 6):
            assert sent[index + 6] - sent[index] >= 60, "at most 6 in any minute"
        # The last result reaches Discord a moment before its row says so.
        await wait_for_jobs(database_url, "state = 'delivered'", 10, timeout=10)
        assert await count_jobs(database_url, "state = 'delivered'") == 10
        for process in (first, second):
            assert await process.stop(signal.SIGTERM) == 0, process.log
            clean(process.log)
        assert "answered by another process" in first.log + second.log


async def test_a_gateway_and_two_workers_keep_the_fair_order(
    launch: Launch, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 0.3
    gateway = await launch("gateway", BOT_ROLE="gateway")
    await gateway_up(discord_api)
    people = users(discord_api, 10)
    # Three requests from each of ten users, the busiest first.
    sent = [(user, n) for n in range(3) for user in range(10)]
    sent.sort(key=lambda pair: pair[0])
    interactions = [
        await pose(discord_api, user=people[user], prompt=f"user {user} request {n}")
        for user, n in sent
    ]
    await wait_for_jobs(database_url, "state = 'queued'", 30)
    assert segmind.submits == [], "a gateway runs no API call"
    workers = [await launch(f"worker{n}", BOT_ROLE="worker") for n in range(2)]

    await everything_delivered_once(discord_api, segmind, interactions)
    assert segmind.max_in_flight <= 2
    store = JobStore(await connect(database_url))
    try:
        rows = await store.database.fetch(
            "SELECT id, requester_id FROM jobs ORDER BY started_at, id"
        )
    finally:
        await store.close()
    by_id = sorted((row["id"], row["requester_id"]) for row in rows)
    assert [row["id"] for row in rows] == order(by_id, {}), "fair order, as one process gives"
    for process in (*workers, gateway):
        assert await process.stop(signal.SIGTERM) == 0, process.log
        clean(process.log)
    assert "worker logged in over REST" in workers[0].log


async def test_a_killed_workers_jobs_are_collected_by_another_within_the_lease(
    launch: Launch, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 4.0
    gateway = await launch("gateway", BOT_ROLE="gateway")
    await gateway_up(discord_api)
    people = users(discord_api, 2)
    interactions = [
        await pose(discord_api, user=person, prompt=f"request {n}")
        for n, person in enumerate(people)
    ]
    doomed = await launch("doomed", BOT_ROLE="worker", SEGMIND_MODE="async")
    await wait_for_jobs(database_url, "status_url IS NOT NULL", 2)
    doomed.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    await doomed.process.wait()
    survivor = await launch("survivor", BOT_ROLE="worker", SEGMIND_MODE="async")

    await everything_delivered_once(discord_api, segmind, interactions)
    took = time.monotonic() - killed_at
    assert len(segmind.submits) == 2, "collected, not submitted again"
    assert took < 4.0 + 3 + 10, f"finished {took:.1f}s after the kill"
    assert survivor.log.count("taking over job") == 2
    for process in (survivor, gateway):
        assert await process.stop(signal.SIGTERM) == 0
        clean(process.log)
    # The searchable lines say the same: whose jobs they were, and that they ended delivered.
    [doomed_name] = re.findall(r"at=start role=worker instance=(\S+)", doomed.log)
    assert survivor.log.count("at=takeover job=") == 2
    assert survivor.log.count(f"from={doomed_name} state=running") == 2
    assert len(re.findall(r"at=job_end job=\d+ outcome=delivered billed=true", survivor.log)) == 2


async def test_a_frozen_worker_that_wakes_up_changes_nothing(
    launch: Launch, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 2.0
    gateway = await launch("gateway", BOT_ROLE="gateway")
    await gateway_up(discord_api)
    interactions = [
        await pose(discord_api, user=person, prompt=f"request {n}")
        for n, person in enumerate(users(discord_api, 2))
    ]
    frozen = await launch("frozen", BOT_ROLE="worker", SEGMIND_MODE="async")
    await wait_for_jobs(database_url, "status_url IS NOT NULL", 2)
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        other = await launch("other", BOT_ROLE="worker", SEGMIND_MODE="async")
        results = [await delivered(i, timeout=60) for i in interactions]
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    # The frozen worker wakes up mid-poll, with its lease long gone: whatever it does next
    # must change nothing a user sees.
    await discord_api.wait_for(lambda: "taken over by another process" in frozen.log, timeout=30)
    await asyncio.sleep(1.0)
    assert [result_of(i) for i in interactions] == results
    assert all(r.embeds and r.files for r in results), "the result is still what the card shows"
    assert len(discord_api.messages_with_files()) == 2
    assert len(segmind.submits) == 2
    assert await count_jobs(database_url, "state = 'delivered' AND owner IS NULL") == 2
    for process in (frozen, other, gateway):
        assert await process.stop(signal.SIGTERM) == 0
        clean(process.log)


async def test_shards_split_the_servers_between_processes(
    launch: Launch, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    """Two processes, one shard each: a server's interactions reach only its shard's process
    (Discord routes them by `(guild_id >> 22) % shard_count`), and are delivered once."""
    shards = [await launch(f"shard{n}", SHARD_COUNT="2", SHARD_IDS=str(n)) for n in range(2)]
    await gateway_up(discord_api, sessions=2)
    interactions = [
        await pose(discord_api, user=person, prompt=f"request {n}")
        for n, person in enumerate(users(discord_api, 3))
    ]
    await everything_delivered_once(discord_api, segmind, interactions)
    owner = shards[(FakeDiscord.GUILD_ID >> 22) % 2]
    other = shards[1 - (FakeDiscord.GUILD_ID >> 22) % 2]
    assert "answered by another process" not in owner.log + other.log
    assert "SHARD_COUNT" not in owner.log
    for process in shards:
        assert await process.stop(signal.SIGTERM) == 0, process.log
        clean(process.log)
