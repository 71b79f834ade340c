"""What generation costs the owner: daily caps, reservations, x-cost, /usage, low credits."""

from __future__ import annotations

import re
import time

import pytest

from bot.posebot import PoseBot
from bot.storage import job_store as states
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import card_text, delivered, pose, private_reply, refused

DAY = 24 * 60 * 60
MANAGE_GUILD = 1 << 5


async def usage(discord_api: FakeDiscord, user: dict, permissions: int = 0) -> str:
    answer = await discord_api.invoke("usage", user=user, permissions=permissions)
    return (await private_reply(answer)).content or ""


async def test_the_daily_limit_refuses_at_the_limit_and_frees_up_a_day_later(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    offset = [0.0]
    await start_bot(
        clock=lambda: time.time() + offset[0], user_daily_limit=2, user_cooldown_seconds=0
    )
    first_sent = time.time()
    for _ in range(2):
        await delivered(await pose(discord_api))
    text = await refused(await pose(discord_api))
    assert "used your 2 generations for today" in text
    frees = int(re.search(r"<t:(\d+):R>", text).group(1))
    assert abs(frees - (first_sent + DAY)) < 5, "when the oldest of the two leaves the window"
    assert len(segmind.submits) == 2
    offset[0] = DAY + 5
    await delivered(await pose(discord_api))
    assert len(segmind.submits) == 3


async def test_an_unbilled_failure_gives_its_reservation_back(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault.error(400, "bad prompt"))
    bot: PoseBot = await start_bot(user_daily_limit=1, user_cooldown_seconds=0)
    assert "bad prompt" in await refused(await pose(discord_api))
    await delivered(await pose(discord_api))
    [failed] = await bot.store.jobs([states.FAILED])
    assert failed.cost == bot.settings.cost_per_generation_usd, "reserved, then released"
    assert (await bot.store.ledger.spend_since(time.time() - DAY)).generations == 1


async def test_the_overall_budget_refuses_before_any_paid_call(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(daily_budget_usd=1.0, user_cooldown_seconds=0)
    await delivered(await pose(discord_api))
    other = discord_api.make_user(70, "other")
    text = await refused(await pose(discord_api, user=other))
    assert "daily budget ($1.00) is used up" in text
    assert "<t:" in text
    assert len(segmind.submits) == 1


async def test_x_cost_is_recorded_and_usage_reports_it(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    # The bot reserves $1.00 a generation; the fake charges $0.58 and says so in x-cost.
    bot: PoseBot = await start_bot(cost_per_generation_usd=1.0, user_daily_limit=5)
    requested = await pose(discord_api)
    await delivered(requested)
    [job] = await stored_jobs(bot.store, states.DELIVERED)
    assert job.cost == 0.58
    mine = await usage(discord_api, requested.user)
    assert "1 generation ($0.58); 4 of your 5 are left" in mine
    assert "top users" not in mine
    assert "Everyone" not in mine

    admin = await usage(discord_api, discord_api.make_user(71, "admin"), MANAGE_GUILD)
    assert f"<@{requested.user['id']}>: 1 generation, $0.58" in admin
    assert "This server: 1 generation, $0.58." in admin
    owner = await usage(discord_api, discord_api.make_user(FakeDiscord.OWNER_ID, "owner"))
    assert "Everyone: 1 generation, $0.58." in owner


async def test_low_credits_warn_the_owner_once_a_day(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    # The fake starts with 100 credits (read at start-up: no warning yet) and reports what
    # is left after each generation.
    await start_bot(low_credits_warning=99.5, user_cooldown_seconds=0)
    for n in range(3):
        await delivered(await pose(discord_api, user=discord_api.make_user(80 + n, f"u{n}")))
    [warning] = discord_api.dm_messages(FakeDiscord.OWNER_ID)
    assert "credits are running low: 99.42 left" in warning.content


# "cancel" waits for a generation to be cut off; test_queue_e2e.py cancels for nothing quickly.
@pytest.mark.parametrize(
    "failure", ["400", "500", "timeout", pytest.param("cancel", marks=pytest.mark.slow)]
)
async def test_every_failure_path_releases_the_reservation(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, failure: str
) -> None:
    # A short timeout for the timeout case; the cancel case needs its blocker to keep hanging.
    timeout = 5 if failure == "cancel" else 1
    bot: PoseBot = await start_bot(
        user_daily_limit=1,
        user_cooldown_seconds=0,
        segmind_timeout_seconds=timeout,
        segmind_max_concurrency=1,  # so that the cancelled request is still waiting
    )
    if failure == "cancel":
        segmind.faults.append(Fault(kind="hang"))
        blocker = await pose(discord_api, user=discord_api.make_user(90, "blocker"))
        await discord_api.wait_for(lambda: len(segmind.submits) == 1)
        queued = await pose(discord_api)
        await queued.wait_for(lambda i: "Queued" in card_text(i))
        [job_id] = await bot.runner.queue.queued_of(int(queued.user["id"]))
        assert await bot.runner.cancel(job_id)
        del blocker
    else:
        segmind.faults.extend(
            {
                "400": [Fault.error(400, "bad")],
                "500": [Fault.error(500, "boom")] * 3,
                "timeout": [Fault(kind="hang")],
            }[failure]
        )
        await refused(await pose(discord_api), timeout=30)
    requester = int(FakeDiscord.DEFAULT_USER_ID)
    mine = await bot.store.ledger.spend_since(time.time() - DAY, requester_id=requester)
    # A call that timed out may have been charged: the owner's dollars, not the user's limit.
    unsure = 1 if failure == "timeout" else 0
    assert (mine.generations, mine.unsure, mine.dollars) == (0, unsure, 0.58 * unsure)
    await delivered(await pose(discord_api), timeout=30)  # the limit of 1 is free again


async def test_spend_is_counted_once_and_survives_a_restart(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    limits = {"user_daily_limit": 1, "user_cooldown_seconds": 0}  # the cap, not the cooldown
    bot: PoseBot = await start_bot(database_url=database_url, **limits)
    await delivered(await pose(discord_api))
    await bot.shutdown(grace=1)
    restarted: PoseBot = await start_bot(database_url=database_url, **limits)
    spend = await restarted.store.ledger.spend_since(time.time() - DAY)
    assert (spend.generations, spend.dollars) == (1, 0.58)
    assert "used your 1 generations" in await refused(await pose(discord_api))


async def test_the_budget_frees_up_a_day_later(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    offset = [0.0]
    await start_bot(clock=lambda: time.time() + offset[0], daily_budget_usd=0.6)
    await delivered(await pose(discord_api))
    other = discord_api.make_user(91, "other")
    assert "daily budget ($0.60) is used up" in await refused(await pose(discord_api, user=other))
    offset[0] = DAY + 5
    await delivered(await pose(discord_api, user=other))
