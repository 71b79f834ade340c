"""What the bot's own users can do against the owner's money: forget and start again, make a
paid result undeliverable, send many requests at the same moment, on one process and on two
sharing one database (each with its own connection, as two dynos have)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from typing import Any

import pytest

from bot.posebot import PoseBot
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import FakeSegmind, Fault
from tests.system.test_many_processes import Launch, gateway_up, launch  # noqa: F401
from tests.user_actions import (
    answer_text,
    delivered,
    outcome,
    pose,
    private_text,
    refused,
    result_of,
)

DAY = 24 * 60 * 60
PRICE = 0.58


async def everyone_spent(bot: PoseBot) -> tuple[int, float]:
    spend = await bot.store.ledger.spend_since(time.time() - DAY)
    return spend.generations, round(spend.dollars, 2)


async def forget_me(discord_api: FakeDiscord, user: dict[str, Any] | None = None) -> str:
    question = await discord_api.invoke("forget-me", user=user)
    await question.wait_for(lambda i: i.original is not None or bool(i.followups))
    message = question.original or question.followups[0]
    await discord_api.press(message, _button(message, "Confirm"), user=user)
    await discord_api.wait_for(lambda: (message.content or "").startswith(("Deleted", "There")))
    return message.content or ""


def _button(message: Any, label: str) -> str:
    return next(
        component["custom_id"]
        for row in message.components
        for component in row.get("components", [])
        if component.get("label") == label
    )


async def test_forgetting_gives_back_neither_the_limit_nor_the_budget(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot = await start_bot(
        database_url=database_url,
        user_daily_limit=2,
        user_cooldown_seconds=0,
        daily_budget_usd=10 * PRICE,
    )
    for _ in range(2):
        await delivered(await pose(discord_api), timeout=30)
    assert "used your 2 generations" in await refused(await pose(discord_api))
    spent = await everyone_spent(bot)
    assert spent == (2, 2 * PRICE)

    assert "and 2 requests" in await forget_me(discord_api)
    assert await bot.store.jobs(["delivered"]) == [], "the requests themselves are gone"
    assert "used your 2 generations" in await refused(await pose(discord_api))
    assert await everyone_spent(bot) == spent, "the budget and /admin spend forget nothing"
    assert len(segmind.submits) == 2


async def test_a_paid_result_whose_channel_is_gone_still_counts(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 0.5
    bot = await start_bot(
        database_url=database_url, user_cooldown_seconds=0, daily_budget_usd=PRICE
    )
    await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    discord_api.channel_deleted = True  # during the generation: the result cannot be posted
    await stored_jobs(bot.store, "failed", timeout=30)
    discord_api.channel_deleted = False

    other = discord_api.make_user(5101, "other")
    assert "daily budget" in await refused(await pose(discord_api, user=other))
    assert await everyone_spent(bot) == (1, PRICE)
    assert segmind.billed == 1


@pytest.mark.parametrize("fault", ["hang", "non_image"])
async def test_a_call_that_may_have_been_billed_counts_in_the_budget_not_the_limit(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    fault: str,
) -> None:
    bot = await start_bot(
        database_url=database_url,
        user_daily_limit=1,
        user_cooldown_seconds=0,
        segmind_timeout_seconds=1,
        daily_budget_usd=2 * PRICE,
    )
    segmind.faults.append(Fault(kind=fault))  # type: ignore[arg-type]
    await refused(await pose(discord_api), timeout=30)
    usage = await answer_text(await discord_api.invoke("usage"))
    assert "1 call(s) that may have been charged without a result are counted in the budget" in (
        usage
    )
    assert "1 of your 1 are left" in usage, "not in the user's own limit"
    await delivered(await pose(discord_api), timeout=30)
    # The unsure call and the generation fill a budget of two.
    other = discord_api.make_user(5102, "other")
    assert "daily budget" in await refused(await pose(discord_api, user=other))
    spend = await bot.store.ledger.spend_since(time.time() - DAY)
    assert (spend.generations, spend.unsure, round(spend.dollars, 2)) == (1, 1, 2 * PRICE)


# -- many at the same moment ------------------------------------------------------------------


async def all_at_once(requests: list[Any]) -> list[FakeInteraction]:
    interactions = await asyncio.gather(*requests)
    for interaction in interactions:
        await outcome(interaction, timeout=60)
    return list(interactions)


def tally(interactions: list[FakeInteraction]) -> tuple[int, list[str]]:
    paid = [i for i in interactions if result_of(i) is not None]
    told = [private_text(i) or "" for i in interactions if result_of(i) is None]
    return len(paid), told


async def start_processes(
    start_bot: StartBot, discord_api: FakeDiscord, count: int, **settings: Any
) -> list[PoseBot]:
    """`count` processes of the bot on one database, each hearing every interaction."""
    bots = [await start_bot(**settings)]
    for _ in range(count - 1):
        bots.append(await start_bot(**settings))
    await discord_api.wait_for(lambda: discord_api.live_sessions >= count, timeout=30)
    return bots


@pytest.mark.parametrize("processes", [1, 2])
async def test_ten_requests_at_once_with_a_budget_for_three_pay_three(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    processes: int,
) -> None:
    await start_processes(
        start_bot,
        discord_api,
        processes,
        database_url=database_url,
        user_cooldown_seconds=0,
        daily_budget_usd=3 * PRICE,
    )
    people = [discord_api.make_user(5200 + n, f"p{n}") for n in range(10)]
    interactions = await all_at_once([pose(discord_api, user=person) for person in people])
    paid, told = tally(interactions)
    assert paid == 3
    assert len(told) == 7 and all("daily budget" in text for text in told), told
    assert segmind.billed == 3


@pytest.mark.parametrize("processes", [1, 2])
async def test_ten_requests_at_once_with_a_server_cap_of_three_pay_three(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    processes: int,
) -> None:
    bots = await start_processes(
        start_bot,
        discord_api,
        processes,
        database_url=database_url,
        user_cooldown_seconds=0,
    )
    for bot in bots:
        server = await bot.servers.get(FakeDiscord.GUILD_ID)
        await bot.servers.save(dataclasses.replace(server, daily_cap=3))
    people = [discord_api.make_user(5300 + n, f"p{n}") for n in range(10)]
    interactions = await all_at_once([pose(discord_api, user=person) for person in people])
    paid, told = tally(interactions)
    assert paid == 3
    assert len(told) == 7 and all("This server's 3 generations" in text for text in told), told
    assert segmind.billed == 3


@pytest.mark.parametrize("processes", [1, 2])
async def test_ten_rerolls_at_once_with_a_budget_for_three_pay_three(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    processes: int,
) -> None:
    await start_processes(
        start_bot,
        discord_api,
        processes,
        database_url=database_url,
        user_cooldown_seconds=0,
        daily_budget_usd=4 * PRICE,  # the first result, then three rerolls
    )
    first = await delivered(await pose(discord_api), timeout=30)
    reroll = _button(first, "Reroll")
    people = [discord_api.make_user(5400 + n, f"p{n}") for n in range(10)]
    interactions = await all_at_once(
        [discord_api.press(first, reroll, user=person) for person in people]
    )
    paid, told = tally(interactions)
    assert paid == 3
    assert len(told) == 7 and all("daily budget" in text for text in told), told
    assert segmind.billed == 4


# Real processes, as two dynos are: minutes with their start-up, so `make test` leaves it to CI.
@pytest.mark.slow
async def test_ten_requests_at_once_on_two_real_processes_pay_only_the_budget(
    launch: Launch,  # noqa: F811 - the fixture of test_many_processes.py
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
) -> None:
    env = {"DAILY_BUDGET_USD": f"{3 * PRICE}"}
    first = await launch("first", **env)
    second = await launch("second", **env)
    await gateway_up(discord_api, sessions=2)
    people = [discord_api.make_user(5500 + n, f"p{n}") for n in range(10)]
    interactions = await all_at_once([pose(discord_api, user=person) for person in people])
    paid, told = tally(interactions)
    assert paid == 3
    assert len(told) == 7 and all("daily budget" in text for text in told), told
    assert segmind.billed == 3
    for process in (first, second):
        await process.stop(signal.SIGTERM)
