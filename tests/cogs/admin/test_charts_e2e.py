"""The figures as pictures: /usage and /admin spend attach a chart of the last 30 days whose
bars are where the days had requests, and whose figures the reply's text repeats."""

from __future__ import annotations

import dataclasses
import re
import time

from PIL import Image

from bot.domain.daily_series import chart_days
from bot.posebot import PoseBot
from bot.storage.job_store import NewJob
from bot.ui import charts
from tests.cogs.admin.test_long_lists_e2e import job_in
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.user_actions import decode, delivered, pose, private_reply

DAY = 24 * 60 * 60
ME = FakeDiscord.DEFAULT_USER_ID
HERE = FakeDiscord.GUILD_ID
ELSEWHERE = 1_180_000_000_000_400_000


def requested(
    *, user: int, guild: int, at: float, cost: float = 0.58, interaction: list[int]
) -> NewJob:
    """A request accepted at `at`, still reserving its price (the runner is paused)."""
    interaction[0] += 1
    job = job_in(guild, at, cost=cost)
    return dataclasses.replace(job, requester_id=user, interaction_id=interaction[0])


def chart_of(message: FakeMessage, filename: str) -> Image.Image:
    [data] = [data for name, data, _ in message.files if name == filename]
    image = decode(data)
    assert (image.format, image.size) == ("PNG", (charts.WIDTH, charts.HEIGHT))
    return image.convert("RGB")


def bar_colour(image: Image.Image, day: int, panel: charts.Panel) -> tuple[int, int, int]:
    """The colour at the foot of day `day`'s bar (of 30), just above the axis."""
    left, right = charts.bar_span(day, 30)
    return image.getpixel(((left + right) // 2, panel.bottom - 2))


async def test_usage_charts_the_members_days_here_and_says_the_same_figures(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot: PoseBot = await start_bot(database_url=database_url, user_daily_limit=50)
    await delivered(await pose(discord_api))  # today, through the whole bot
    await bot.runner.pause("the test holds every request")
    now = time.time()
    days = chart_days(now)
    ids = [10_000]
    # Mine here, by days ago: counted. 40 days ago is outside the chart.
    mine = {1: 2, 5: 1, 12: 3, 29: 1, 40: 2}
    for ago, count in mine.items():
        for _ in range(count):
            at = (days[-1] - ago) * DAY + 3600
            await bot.store.add_job(requested(user=ME, guild=HERE, at=at, interaction=ids), [])
    # Not counted in my chart: someone else's here, mine in another server, a cancelled one.
    three_days = (days[-1] - 3) * DAY + 3600
    await bot.store.add_job(requested(user=7, guild=HERE, at=three_days, interaction=ids), [])
    await bot.store.add_job(requested(user=ME, guild=ELSEWHERE, at=three_days, interaction=ids), [])
    cancelled = await bot.store.add_job(
        requested(user=ME, guild=HERE, at=three_days, interaction=ids), []
    )
    assert await bot.store.cancel(cancelled, now)

    answer = await private_reply(await discord_api.invoke("usage"))
    generations = {0: 1, **{ago: n for ago, n in mine.items() if ago < 30}}
    image = chart_of(answer, charts.USAGE_FILE)
    for index in range(30):
        ago = 29 - index
        expected = generations.get(ago, 0) > 0
        assert (bar_colour(image, index, charts.USAGE_GENERATIONS) == charts.GENERATIONS) is (
            expected
        ), f"generations {ago} days ago"
        assert (bar_colour(image, index, charts.USAGE_SPEND) == charts.SPEND) is expected
        if not expected:
            assert bar_colour(image, index, charts.USAGE_SPEND) == charts.BACKGROUND
    # Two are twice as tall as one (give or take a pixel of rounding): the heights are the
    # figures, not just their presence.
    two, one = (bar_height(image, index, charts.USAGE_GENERATIONS) for index in (28, 24))
    assert abs(two - 2 * one) <= 1

    text = answer.content or ""
    total = sum(generations.values())
    assert f"Last 30 days (UTC, chart attached): {total} generations, ${total * 0.58:.2f}." in text
    assert f"{day_label(days[-1] - 1)}: 2 ($1.16)" in text
    assert f"{day_label(days[-1] - 3)}: 0 ·" in text, "neither someone else's, nor elsewhere"
    # /usage's own 24-hour figure counts what the chart counts, the same way.
    made = [ts for ago, n in mine.items() for ts in [(days[-1] - ago) * DAY + 3600] * n]
    last_day = 1 + sum(1 for ts in made if ts > now - DAY)
    assert f"In the last 24 hours you made {last_day} generation" in text
    [attachment] = answer.attachments
    assert attachment["description"].startswith("Bar chart of your generations")
    assert f"{total} generations" in attachment["description"]


def day_label(day: int) -> str:
    return time.strftime("%m-%d", time.gmtime(day * DAY))


def bar_height(image: Image.Image, day: int, panel: charts.Panel) -> int:
    left, right = charts.bar_span(day, 30)
    x = (left + right) // 2
    return sum(
        1 for y in range(panel.top, panel.bottom) if image.getpixel((x, y)) == charts.GENERATIONS
    )


async def test_admin_spend_stacks_the_top_servers_and_adds_up_the_others(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot: PoseBot = await start_bot(database_url=database_url)
    await bot.runner.pause("the test holds every request")
    today = chart_days(time.time())[-1]
    ids = [20_000]
    # Seven servers: the first spends most; each spends on a day of its own.
    for n in range(7):
        guild = ELSEWHERE + n
        at = (today - 2 * n) * DAY + 3600
        await bot.store.add_job(
            requested(user=9, guild=guild, at=at, cost=7.0 - n, interaction=ids), []
        )
    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    answer = await private_reply(await discord_api.invoke("admin", subcommand="spend", user=owner))
    image = chart_of(answer, charts.SERVERS_FILE)
    for n in range(7):
        index = 29 - 2 * n
        colour = charts.SERVER_COLOURS[n] if n < 5 else charts.OTHERS
        assert bar_colour(image, index, charts.SERVERS_SPEND) == colour, f"server {n}"
        assert bar_colour(image, index - 1, charts.SERVERS_SPEND) == charts.BACKGROUND
    text = answer.content or ""
    assert "Last 30 days (UTC, chart attached): 7 generations, $28.00." in text
    assert f"{day_label(today)}: 1 ($7.00)" in text
    [attachment] = [a for a in answer.attachments if a["filename"] == charts.SERVERS_FILE]
    description = attachment["description"]
    assert f"server {ELSEWHERE}: $7.00" in description
    assert "2 other servers: $3.00" in description  # $2 and $1
    assert re.search(r"By server: .*; 2 other servers", description)
