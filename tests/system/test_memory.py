"""Memory against hostile images: the process stays within MEMORY_BUDGET_MB however many large
images arrive at once, and an image too large for it is refused privately, at no cost."""

from __future__ import annotations

import asyncio
import io
import platform
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.memory import MemoryBudget, OverBudget, return_large_buffers_to_the_system
from bot.storage.job_store import CANCELLED, DELIVERED, FAILED, GENERATED, QUEUED, RUNNING
from tests.bot_process import BotProcess
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import accepted, png, pose, private_text, refused

MB = 2**20
BUDGET_MB = 512  # the default, a Heroku Standard-1X dyno


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="only glibc has this setting")
def test_glibc_accepts_the_fixed_mmap_threshold() -> None:
    assert return_large_buffers_to_the_system()


def hostile_png() -> bytes:
    """A 4 KiB PNG of 6320×6320 palette pixels: under the 40-megapixel limit, and about 320 MB
    to check and clean once decoded and converted."""
    buffer = io.BytesIO()
    Image.new("P", (6320, 6320)).save(buffer, "PNG")
    return buffer.getvalue()


async def save_character(
    discord_api: FakeDiscord, name: str, image: bytes, user: dict[str, Any]
) -> FakeInteraction:
    """Type /character save as a user would, attaching `image`."""
    attachment = discord_api.add_attachment(f"{name}.png", image, "image/png")
    options = [
        {"name": "name", "type": 3, "value": name},
        {"name": "image", "type": 11, "value": attachment["id"]},
    ]
    return await discord_api.invoke(
        "character", options, subcommand="save", user=user, attachments=[attachment]
    )


async def answered(interaction: FakeInteraction, timeout: float) -> str:
    await interaction.wait_for(
        lambda i: i.original is not None and bool(i.original.content), timeout
    )
    assert interaction.original is not None
    return interaction.original.content or ""


def status_mb(pid: int, field: str) -> float:
    """VmRSS (resident now) or VmHWM (the peak of the process's life) of `pid`, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc")
async def test_four_saves_and_two_poses_of_a_hostile_image_stay_within_the_budget(
    discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str, tmp_path: Path
) -> None:
    # The bot in a process of its own, as the platform runs it: its peak is its own alone.
    bot = await BotProcess.start(
        discord_api,
        tmp_path,
        {
            "DATABASE_URL": database_url,
            "SEGMIND_BASE_URL": segmind.base_url,
            "USER_COOLDOWN_SECONDS": "0",
            "MEMORY_BUDGET_MB": str(BUDGET_MB),
        },
        "bot",
    )
    try:
        await discord_api.wait_identified(timeout=60)
        await discord_api.wait_for(lambda: bool(discord_api.synced_commands), timeout=60)
        idle = status_mb(bot.pid, "VmRSS")
        image = hostile_png()
        people = [discord_api.make_user(7000 + n, f"visitor{n}") for n in range(6)]
        sent = await asyncio.gather(
            *(save_character(discord_api, f"giant{n}", image, people[n]) for n in range(4)),
            *(pose(discord_api, user=people[4 + n], character=image) for n in range(2)),
        )
        saves, poses = sent[:4], sent[4:]
        # Each merely waits its turn: all are taken, none refused.
        for interaction in saves:
            assert (await answered(interaction, timeout=180)).startswith("Saved"), private_text(
                interaction
            )
        for interaction in poses:
            await accepted(interaction, timeout=180)
        peak = status_mb(bot.pid, "VmHWM")
    finally:
        await bot.kill_if_running()
    print(f"bot process: idle {idle:.0f} MB, peak {peak:.0f} MB")
    assert peak < BUDGET_MB, f"peak RSS {peak:.0f} MB (idle {idle:.0f} MB) over {BUDGET_MB} MB"


async def test_an_image_too_large_for_the_budget_is_refused_privately_at_no_cost(
    discord_api: FakeDiscord, segmind: FakeSegmind, start_bot: StartBot, database_url: str
) -> None:
    # 256 MB leaves about 100 MB for images: this one would take over 300 MB to check.
    bot = await start_bot(database_url=database_url, memory_budget_mb=256, user_cooldown_seconds=0)
    image = hostile_png()

    text = await refused(await pose(discord_api, character=image))
    assert "6320×6320 pixels: too large for the bot's memory" in text, text
    assert "smaller image" in text

    saved = await answered(
        await save_character(discord_api, "giant", image, discord_api.make_user(8001, "eve")),
        timeout=30,
    )
    assert "6320×6320 pixels: too large for the bot's memory" in saved, saved
    assert await bot.characters.usable(8001, FakeDiscord.GUILD_ID) == []

    assert segmind.submits == [] and segmind.billed == 0, "nothing was paid for"
    assert await bot.store.jobs([QUEUED, RUNNING, GENERATED, DELIVERED, FAILED, CANCELLED]) == []


async def test_an_attachment_longer_than_discord_declared_is_refused(
    discord_api: FakeDiscord, segmind: FakeSegmind, start_bot: StartBot
) -> None:
    await start_bot()
    attachment = discord_api.add_attachment("hero.png", png((600, 600)))
    attachment["size"] = 1000  # what Discord said it holds; the CDN then serves more
    interaction = await discord_api.invoke(
        "pose",
        [
            {"name": "character", "type": 11, "value": attachment["id"]},
            {"name": "prompt", "type": 3, "value": "waving"},
        ],
        attachments=[attachment],
    )
    text = await refused(interaction)
    assert "could not be downloaded from Discord" in text, text
    assert segmind.submits == []


# The budget itself (bot/memory.py)


async def test_a_reservation_that_does_not_fit_waits_until_memory_is_given_back() -> None:
    budget = MemoryBudget(100)
    first_done = asyncio.Event()
    order: list[str] = []

    async def hold(name: str, amount: int, until: asyncio.Event | None = None) -> None:
        async with budget.reserve(amount):
            order.append(name)
            if until is not None:
                await until.wait()

    first = asyncio.create_task(hold("first", 70, first_done))
    await asyncio.sleep(0)
    second = asyncio.create_task(hold("second", 50))
    await asyncio.sleep(0.01)
    assert order == ["first"] and budget.held == 70, "the second waits: 120 would not fit"
    first_done.set()
    await asyncio.gather(first, second)
    assert order == ["first", "second"] and budget.held == 0


async def test_a_large_reservation_is_not_overtaken_by_small_ones() -> None:
    budget = MemoryBudget(100)
    release = asyncio.Event()
    order: list[str] = []

    async def hold(name: str, amount: int) -> None:
        async with budget.reserve(amount):
            order.append(name)
            await release.wait()

    tasks = [asyncio.create_task(hold("small", 40))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(hold("large", 90)))
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(hold("late small", 10)))  # would fit now, but comes after
    await asyncio.sleep(0.01)
    assert order == ["small"]
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["small", "large", "late small"]


async def test_a_reservation_larger_than_the_whole_budget_is_refused_at_once() -> None:
    budget = MemoryBudget(100)
    with pytest.raises(OverBudget):
        async with budget.reserve(101):
            pass
    assert budget.held == 0


async def test_a_cancelled_wait_lets_the_next_one_through() -> None:
    budget = MemoryBudget(100)
    release = asyncio.Event()

    async def hold(amount: int) -> None:
        async with budget.reserve(amount):
            await release.wait()

    holder = asyncio.create_task(hold(60))
    await asyncio.sleep(0)
    blocked = asyncio.create_task(hold(80))
    await asyncio.sleep(0)
    small = asyncio.create_task(hold(30))  # fits beside the holder, but waits behind `blocked`
    await asyncio.sleep(0.01)
    assert budget.held == 60
    blocked.cancel()
    await asyncio.sleep(0.01)
    assert budget.held == 90, "the small one went in once the large one gave up"
    release.set()
    await asyncio.gather(holder, small)
    assert budget.held == 0


async def test_an_image_already_checked_is_never_refused_but_waits_for_the_whole_budget() -> None:
    budget = MemoryBudget(100)
    release = asyncio.Event()

    async def hold() -> None:
        async with budget.reserve(10):
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    done: list[int] = []

    async def rework() -> None:
        async with budget.reserve_checked(500):
            done.append(budget.held)

    reworking = asyncio.create_task(rework())
    await asyncio.sleep(0.01)
    assert done == [], "it waits for the budget to be free"
    release.set()
    await asyncio.gather(holder, reworking)
    assert done == [100] and budget.held == 0


async def test_a_wait_cancelled_while_memory_is_given_back_leaves_the_budget_whole() -> None:
    budget = MemoryBudget(100)
    release = asyncio.Event()

    async def hold(amount: int) -> None:
        async with budget.reserve(amount):
            await release.wait()

    holder = asyncio.create_task(hold(100))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(hold(50))
    await asyncio.sleep(0)
    release.set()  # the holder gives its memory back first, passing over the cancelled wait
    waiting.cancel()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert budget.held == 0
    async with budget.reserve(100):
        assert budget.held == 100
