"""A user's cooldown is one for every process of the bot: kept in the database, it outlives a
restart, follows a refund made by a worker, and a Cancel gives back only its own request's.
"""

from __future__ import annotations

import asyncio
import time

from bot.posebot import PoseBot
from tests.cogs.pose.test_pose_e2e import timestamp_in
from tests.cogs.pose.test_queue_e2e import cancel_id
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import card_text, delivered, pose, private_text, refused


class Clock:
    """The bot's clock, moved on by the test instead of waiting for a minute to pass."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_refund_made_by_a_worker_lets_the_user_go_again_through_the_gateway(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.faults.append(Fault.error(400, "prompt contains banned words"))
    shared = {"database_url": database_url, "user_cooldown_seconds": 60}
    await start_bot(bot_role="gateway", **shared)
    await start_bot(bot_role="worker", **shared)
    assert "banned words" in await refused(await pose(discord_api))
    # The gateway took the cooldown, the worker gave it back: nothing was billed.
    await delivered(await pose(discord_api))
    assert len(segmind.submits) == 2
    assert "You can start your next generation" in await refused(await pose(discord_api))


async def test_a_pause_by_a_worker_gives_the_cooldown_back_to_the_gateway(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.faults.append(Fault.error(401, "Invalid API key"))
    shared = {"database_url": database_url, "user_cooldown_seconds": 60}
    await start_bot(bot_role="gateway", **shared)
    await start_bot(bot_role="worker", **shared)
    first = await pose(discord_api, prompt="first")
    await first.wait_for(lambda i: card_text(i).startswith("⏸️ Paused"))
    # Nothing was charged for the paused request: its requester may ask again at once.
    second = await pose(discord_api, prompt="second")
    await second.wait_for(lambda i: card_text(i).startswith("⏸️ Paused"))
    assert private_text(second) is None


async def test_a_restart_keeps_the_cooldown(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=60)
    await delivered(await pose(discord_api))
    await asyncio.wait_for(bot.shutdown(grace=1), timeout=15)
    await start_bot(database_url=database_url, user_cooldown_seconds=60)
    text = await refused(await pose(discord_api))
    assert "You can start your next generation" in text
    assert 50 <= timestamp_in(text) - time.time() <= 61
    assert len(segmind.submits) == 1
    await delivered(await pose(discord_api, user=discord_api.make_user(4242, "someone-else")))


async def test_cancel_of_an_older_request_leaves_a_newer_requests_cooldown(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    clock = Clock()
    bot: PoseBot = await start_bot(clock=clock, database_url=database_url, user_cooldown_seconds=60)
    await bot.runner.pause("held while the test queues requests")
    older = await pose(discord_api, prompt="older")
    await stored_jobs(bot.store, "queued", 1)
    clock.now += 61  # the older request's window has passed
    newer = await pose(discord_api, prompt="newer")
    await stored_jobs(bot.store, "queued", 2)
    newer_window_ends = clock.now + 60
    assert older.original is not None
    await discord_api.press(older.original, cancel_id(older), user=older.user)
    await older.wait_for(lambda i: (i.original.content or "").startswith("🚫 Cancelled"))

    text = await refused(await pose(discord_api, prompt="third"))
    assert "You can start your next generation" in text
    assert timestamp_in(text) == int(newer_window_ends + 0.999), "the newer request's window"
    assert newer.original is not None and "Cancelled" not in (newer.original.content or "")
    assert segmind.submits == []


async def test_processes_that_split_the_servers_share_a_users_cooldown(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    """Two processes, one shard each: the user's request in a server of the other shard is
    heard by the other process alone, which never saw the first one."""
    shared = {"database_url": database_url, "user_cooldown_seconds": 60, "shard_count": 2}
    await start_bot(shard_ids=(0,), discord_guild_id=None, **shared)
    await start_bot(shard_ids=(1,), discord_guild_id=None, **shared)
    await discord_api.wait_for(lambda: discord_api.live_sessions >= 2, timeout=10)
    await delivered(await pose(discord_api))
    # A second server of the user's, whose events Discord sends to the other shard.
    discord_api.GUILD_ID = FakeDiscord.GUILD_ID + (1 << 22)
    text = await refused(await pose(discord_api))
    assert "You can start your next generation" in text
    assert 50 <= timestamp_in(text) - time.time() <= 61
    assert len(segmind.submits) == 1
