"""A paid result the database will not take: kept in memory and stored once the database is
back (the owner told when that lasts), never retried for an error no retry can fix, and left
alone once another process owns the job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.engine import job as job_life
from bot.storage.job_queue import SharedQueue
from bot.storage.job_store import DELIVERED, FAILED, JobStore
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind
from tests.system.test_faults_e2e import NOTHING_LOST, figures
from tests.user_actions import delivered, pose, private_text

REAL_SAVE_RESULT = JobStore.save_result
SAVE_RETRY_SECONDS = 0.01  # the bot waits from 1 s up between tries; here much less


@pytest.fixture(autouse=True)
def quick_save_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_life, "DELIVERY_RETRY_BASE_SECONDS", SAVE_RETRY_SECONDS)
    monkeypatch.setattr(job_life, "DELIVERY_RETRY_MAX_SECONDS", SAVE_RETRY_SECONDS)


def failing_saves(
    monkeypatch: pytest.MonkeyPatch, times: int, error: Callable[[], Exception]
) -> list[int]:
    """The next `times` runs of `JobStore.save_result` raise `error()`; returns the runs made."""
    real = REAL_SAVE_RESULT
    runs: list[int] = []

    async def save_result(self: JobStore, *args: Any, **kwargs: Any) -> bool:
        runs.append(len(runs))
        if len(runs) <= times:
            raise error()
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(JobStore, "save_result", save_result)
    return runs


def owner_alerts(discord_api: FakeDiscord) -> list[str]:
    return [m.content or "" for m in discord_api.dm_messages(FakeDiscord.OWNER_ID)]


async def test_a_result_the_database_cannot_take_yet_is_kept_stored_and_delivered_once(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    outage = job_life.SAVE_TRIES_BEFORE_ALERT + 2
    runs = failing_saves(monkeypatch, outage, lambda: ConnectionResetError("connection lost"))
    bot = await start_bot(database_url=database_url)
    interaction = await pose(discord_api, prompt="stored late")

    await delivered(interaction, timeout=20)
    await stored_jobs(bot.store, DELIVERED, timeout=10)
    assert len(runs) == outage + 1
    assert segmind.billed == 1, "paid once"
    [alert] = owner_alerts(discord_api)
    assert "held in this process's memory" in alert
    assert await figures(bot.store, segmind, discord_api) == NOTHING_LOST


async def test_an_error_no_retry_can_fix_ends_the_job_instead_of_holding_a_slot(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    runs = failing_saves(monkeypatch, 1000, lambda: ValueError("a statement the database refuses"))
    bot = await start_bot(user_cooldown_seconds=0, database_url=database_url)
    first = await pose(discord_api, prompt="cannot be stored")
    await stored_jobs(bot.store, FAILED, timeout=10)
    assert len(runs) == 1, "not tried again"
    await first.wait_for(lambda i: private_text(i) is not None)

    # The slot is free again: the next request runs.
    monkeypatch.setattr(JobStore, "save_result", REAL_SAVE_RESULT)
    second = await pose(discord_api, prompt="stored")
    await delivered(second, timeout=20)


async def test_a_job_another_process_took_over_is_no_longer_stored_here(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    runs = failing_saves(monkeypatch, 1000, lambda: ConnectionResetError("connection lost"))
    checked: list[bool] = []

    async def taken_over(self: SharedQueue, job: Any) -> bool:
        checked.append(False)
        return False

    monkeypatch.setattr(SharedQueue, "still_owns", taken_over)
    await start_bot(database_url=database_url)
    await pose(discord_api, prompt="taken over")
    await discord_api.wait_for(lambda: bool(checked), timeout=10)
    await asyncio.sleep(0.3)  # time for tries that should not happen
    assert len(runs) == 1, "the store is not tried again for a job that is no longer ours"
    assert segmind.billed == 1
