"""What each of Segmind's answers means to the people using the bot: an answer no request
can fix (credits, a team spend limit, an unknown or retired model) pauses everyone and tells
the owner in its own words; a request the API refuses fails alone, privately, costs nothing
and gives the cooldown back; a result whose record expired ends its job as possibly paid for;
and the free credits endpoint checks the key and the balance from start-up on, with no paid
call."""

from __future__ import annotations

import logging

import pytest

from bot.engine import credits
from bot.posebot import PoseBot
from bot.storage.job_store import FAILED, QUEUED
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import card_text, delivered, pose, refused

# Each answer that stops every request alike: the card's words, and the owner's to-do.
PAUSING = {
    "406-credits": (
        Fault.insufficient_credits(0.12),
        "the bot's Segmind credits have run out",
        "Top up the credits in Segmind's console",
    ),
    "406-spend-limit": (
        Fault.spend_limit("monthly", 50.0),
        "the Segmind team's spend limit for this period is reached",
        "Raise the team's spend limit in Segmind's console",
    ),
    "404-model": (
        Fault.error(404, "Model not found"),
        "Segmind does not know the model the bot asks for",
        "Check `SEGMIND_MODEL`",
    ),
    "410-retired": (
        Fault.model_retired(),
        "Segmind has retired the model the bot uses",
        "Set `SEGMIND_MODEL` to a model Segmind still serves",
    ),
}
# Each answer that is one request's own: what it fails with, and what its requester reads.
REFUSED = {
    "406-value": ([Fault.rejected_value("guidance_scale", 3.0)], "'guidance_scale': 3.0"),
    # Words never seen before: this request fails; no one else is held up by it.
    "406-unknown": ([Fault.error(406, "Not Acceptable")], "Not Acceptable"),
    "400": ([Fault.error(400, "prompt: must not be empty")], "prompt: must not be empty"),
    "500": ([Fault.error(500, "Internal server error")] * 3, "nothing was charged"),
}


def paused(interaction: FakeInteraction) -> bool:
    return card_text(interaction).startswith("⏸️ Paused")


def owner_messages(discord_api: FakeDiscord) -> list[str]:
    return [m.content or "" for m in discord_api.dm_messages(FakeDiscord.OWNER_ID)]


@pytest.mark.parametrize("answer", PAUSING)
async def test_an_answer_no_request_can_fix_pauses_everyone_and_tells_the_owner(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    answer: str,
) -> None:
    fault, reason, advice = PAUSING[answer]
    segmind.faults.append(fault)
    bot: PoseBot = await start_bot(database_url=database_url)
    first = await pose(discord_api)
    await first.wait_for(paused)
    assert reason in card_text(first)
    later = await pose(discord_api, user=discord_api.make_user(601, "later"))
    await later.wait_for(paused)

    assert len(segmind.submits) == 1, "never sent again, and nothing more while paused"
    assert segmind.billed == 0
    assert await bot.runner.pause_reason() == reason
    assert await bot.store.jobs([FAILED]) == [], "nobody's request is lost"
    assert len(await bot.store.jobs([QUEUED])) == 2
    await discord_api.wait_for(lambda: bool(owner_messages(discord_api)))
    [alert] = owner_messages(discord_api)
    assert reason in alert
    assert advice in alert
    assert "/admin resume" in alert


@pytest.mark.parametrize("answer", REFUSED)
async def test_a_request_the_api_refuses_fails_alone_and_gives_the_cooldown_back(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    answer: str,
) -> None:
    faults, told = REFUSED[answer]
    segmind.faults.extend(faults)
    bot: PoseBot = await start_bot(database_url=database_url, user_cooldown_seconds=600)
    text = await refused(await pose(discord_api))  # privately, to the requester alone

    assert told in text
    # A 500 is sent once more at most (often a value the model rejected); the rest never.
    assert len(segmind.submits) == (2 if answer == "500" else 1)
    assert segmind.billed == 0
    assert len(await stored_jobs(bot.store, FAILED)) == 1
    assert await bot.runner.pause_reason() is None, "nobody else is held up"
    assert owner_messages(discord_api) == []
    segmind.faults.clear()
    await delivered(await pose(discord_api)), "nothing was billed: the cooldown is given back"


async def test_an_async_generation_that_failed_is_told_and_gives_the_cooldown_back(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot: PoseBot = await start_bot(
        database_url=database_url, segmind_mode="async", user_cooldown_seconds=600
    )
    segmind.fail_async_next("NSFW content detected")
    text = await refused(await pose(discord_api))
    assert "could not make this image: NSFW content detected" in text
    assert segmind.billed == 0, "Segmind charges nothing for a FAILED inference (422)"
    assert await bot.runner.pause_reason() is None
    await delivered(await pose(discord_api)), "nothing was billed: the cooldown is given back"


async def test_a_result_whose_record_expired_ends_as_possibly_billed_and_the_requester_is_told(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 0.5
    bot: PoseBot = await start_bot(
        database_url=database_url, segmind_mode="async", user_cooldown_seconds=600
    )
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: segmind.polls >= 1)
    segmind.forget_requests()  # Segmind's record expires before the bot collects the result

    text = await refused(interaction)
    assert "could not be collected from the image service in time" in text
    [job] = await stored_jobs(bot.store, FAILED)
    assert job.reason is not None and job.reason.startswith("ResultExpired")
    assert segmind.billed == 1, "the submit was accepted: the owner may have paid for it"
    assert len(segmind.submits) == 1, "never submitted again"
    assert await bot.runner.pause_reason() is None
    assert owner_messages(discord_api) == []
    # It may have been charged, so the cooldown stands.
    again = await pose(discord_api)
    assert "<t:" in await refused(again)
    assert len(segmind.submits) == 1


async def test_a_restart_that_finds_the_record_expired_ends_the_job_and_tells_the_requester(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 3.0
    bot: PoseBot = await start_bot(database_url=database_url, segmind_mode="async")
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: segmind.polls >= 1)
    await bot.shutdown(grace=0.1)  # the accepted request is left to the next process
    segmind.forget_requests()  # which comes back after Segmind forgot it

    restarted: PoseBot = await start_bot(database_url=database_url, segmind_mode="async")
    text = await refused(interaction)
    assert "could not be collected from the image service in time" in text
    [job] = await stored_jobs(restarted.store, FAILED)
    assert job.reason is not None and job.reason.startswith("ResultExpired")
    assert len(segmind.submits) == 1, "collected, never paid for again"
    assert await restarted.runner.pause_reason() is None


async def test_a_refused_key_is_told_to_the_owner_at_start_up_and_the_bot_still_starts(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    wrong_key = "sk-not-the-key-1234567890"
    await start_bot(database_url=database_url, segmind_api_key=wrong_key)
    await discord_api.wait_for(lambda: bool(owner_messages(discord_api)))
    [alert] = owner_messages(discord_api)
    assert "Segmind refused the bot's API key" in alert
    assert "`SEGMIND_API_KEY`" in alert
    said = [r for r in caplog.records if "SEGMIND_API_KEY" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.ERROR], "one clear line"
    assert wrong_key not in caplog.text + alert
    assert segmind.submits == [], "checked without a paid call"

    # The bot still runs: requests are taken in, and wait for the key to be fixed.
    interaction = await pose(discord_api)
    await interaction.wait_for(paused)
    assert "Segmind refused the bot's API key" in card_text(interaction)
    assert segmind.billed == 0


async def test_low_credits_are_told_at_start_up_without_a_paid_call_and_once_a_day(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(credits, "CHECK_SECONDS", 0.05)  # "hourly", faster
    segmind.starting_credits = 3.0
    await start_bot(database_url=database_url, low_credits_warning=5.0, user_cooldown_seconds=0)
    await discord_api.wait_for(lambda: bool(owner_messages(discord_api)))
    [warning] = owner_messages(discord_api)
    assert "credits are running low: 3.00 left (warning below 5.00)" in warning
    assert segmind.submits == []

    checks = segmind.credit_checks
    await discord_api.wait_for(lambda: segmind.credit_checks >= checks + 3)
    await delivered(await pose(discord_api))  # its header says 2.42 left
    assert len(owner_messages(discord_api)) == 1, "once a day, however often it is read"
