"""The bot as a real process, as the platform runs it: restarted, signalled, killed.

Twenty requests from eight users; the worker is stopped (SIGTERM) or killed (SIGKILL) while
some are queued and some running, then started again on the same database. Every request must
be delivered exactly once, and in async mode none may be paid for twice.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.storage.database import connect
from bot.storage.job_store import JobStore
from tests.bot_process import BotProcess
from tests.conftest import BOT_TOKEN
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import API_KEY, FakeSegmind
from tests.user_actions import delivered, pose, result_of

# Real bot processes, started and stopped: minutes in all, so `make test` leaves them to CI.
pytestmark = pytest.mark.slow

USERS = 8
REQUESTS = 20


async def count_jobs(database_url: str, condition: str = "1 = 1") -> int:
    store = JobStore(await connect(database_url))
    try:
        rows = await store.database.fetch(
            f"SELECT COUNT(*) AS n FROM jobs WHERE {condition}"  # noqa: S608 - test constants
        )
        return int(rows[0]["n"])
    finally:
        await store.close()


async def wait_for_jobs(database_url: str, condition: str, count: int, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await count_jobs(database_url, condition)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{found} jobs where {condition}, expected {count}")
        await asyncio.sleep(0.05)


async def send_requests(discord_api: FakeDiscord) -> list[FakeInteraction]:
    users = [discord_api.make_user(9000 + n, f"artist{n}") for n in range(USERS)]
    return [
        await pose(discord_api, user=users[n % USERS], prompt=f"request {n}")
        for n in range(REQUESTS)
    ]


@pytest.mark.parametrize(
    ("mode", "sig"),
    [
        ("async", signal.SIGTERM),
        ("async", signal.SIGKILL),
        ("sync", signal.SIGTERM),
    ],
    ids=["async-sigterm", "async-sigkill", "sync-sigterm"],
)
async def test_a_restart_loses_nothing_and_pays_nothing_twice(
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    tmp_path: Path,
    mode: str,
    sig: signal.Signals,
) -> None:
    segmind.latency = 2.0
    common = {
        "DATABASE_URL": database_url,
        "SEGMIND_BASE_URL": segmind.base_url,
        "SEGMIND_MODE": mode,
        "SEGMIND_POLL_SECONDS": "0.1",
        "SEGMIND_MAX_CONCURRENCY": "4",
        "USER_COOLDOWN_SECONDS": "0",
        "USER_MAX_QUEUED": "3",
    }
    # The first worker may send 4 requests a minute: after those it holds the rest, so the
    # signal finds 4 running and 16 queued, and no request half sent.
    first = await BotProcess.start(discord_api, tmp_path, {**common, "SEGMIND_RPM": "4"}, "first")
    second: BotProcess | None = None
    try:
        await discord_api.wait_identified(timeout=30)
        await discord_api.wait_for(lambda: bool(discord_api.synced_commands), timeout=30)
        interactions = await send_requests(discord_api)
        await wait_for_jobs(database_url, "1 = 1", REQUESTS)
        await discord_api.wait_for(lambda: len(segmind.submits) == 4)
        if mode == "async":
            await wait_for_jobs(database_url, "status_url IS NOT NULL", 4)
        exit_code = await first.stop(sig)
        if sig == signal.SIGTERM:
            assert exit_code == 0, first.log
            assert "received SIGTERM" in first.log
            assert await count_jobs(database_url, "state = 'delivered'") == 4, (
                "running generations finish before the worker exits"
            )
        assert await count_jobs(database_url, "state = 'queued'") == 16

        second = await BotProcess.start(
            discord_api, tmp_path, {**common, "SEGMIND_RPM": "600"}, "second"
        )
        results = [await delivered(interaction, timeout=60) for interaction in interactions]
        await wait_for_jobs(database_url, "state = 'delivered'", REQUESTS)
        assert await second.stop(signal.SIGTERM) == 0, second.log
    finally:
        await first.kill_if_running()
        if second is not None:
            await second.kill_if_running()

    assert len({id(result) for result in results}) == REQUESTS
    assert len(discord_api.messages_with_files()) == REQUESTS, "each result posted once"
    assert [s.status for s in segmind.submits] == [200] * REQUESTS, "nothing submitted twice"
    assert segmind.billed == REQUESTS
    prompts = sorted(r.embeds[0]["description"] for r in results)
    assert prompts == sorted(f"request {n}" for n in range(REQUESTS))
    told = [
        interaction
        for interaction in interactions
        if any("restarted" in (edit.get("content") or "") for edit in interaction.original.edits)
    ]
    assert told, "users whose request waited through the restart were told it resumed"
    for log in (first.log, second.log):
        assert "Traceback" not in log
        assert API_KEY not in log
        assert BOT_TOKEN not in log
    assert all(result_of(i) is not None for i in interactions)
