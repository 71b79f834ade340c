"""What a server's admin changes through one process of the bot, every other process applies
within 2 seconds: two real processes on one database, each with its own memory.

The processes split Discord's shards, as processes do with SHARD_IDS: the server's events go to
one, direct messages to the other. /admin is answered by the server's process; a Reroll pressed
in a direct message, on a private result from that server, by the other, which must refuse the
word the admin has just blocked.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.cogs.admin.test_server_admin_e2e import admin
from tests.cogs.pose.test_button_server_rules_e2e import PROMPT, direct_result
from tests.cogs.pose.test_results_e2e import buttons
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import FakeSegmind
from tests.system.test_many_processes import Launch, clean, gateway_up, launch
from tests.user_actions import card_text, private_text, result_of

pytestmark = pytest.mark.slow

__all__ = ["launch"]  # the fixture, used by name
SHARDS = 2
DEADLINE_SECONDS = 2.0
PRESS_EVERY_SECONDS = 0.1  # at most 20 presses before the deadline


def shard_of_the_server() -> int:
    return (FakeDiscord.GUILD_ID >> 22) % SHARDS


async def answered(interaction: FakeInteraction) -> bool:
    """Whether the request was taken (True) or refused (False), once it is one or the other."""

    def taken(i: FakeInteraction) -> bool:
        return card_text(i).startswith(("⏳", "🎨")) or result_of(i) is not None

    await interaction.wait_for(lambda i: taken(i) or private_text(i) is not None, timeout=20)
    return taken(interaction)


async def test_a_word_blocked_through_one_process_is_refused_by_the_other(
    launch: Launch, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    assert shard_of_the_server() != 0, "direct messages and the server go to different shards"
    common = {"SHARD_COUNT": str(SHARDS), "USER_MAX_QUEUED": "50", "USER_DAILY_LIMIT": "100"}
    direct = await launch("direct", SHARD_IDS="0", **common)
    server = await launch("server", SHARD_IDS=str(shard_of_the_server()), **common)
    await gateway_up(discord_api, sessions=2)
    segmind.latency = 0.3

    user = discord_api.make_user(88, "late")
    dm = await direct_result(discord_api, segmind, user, database_url)
    reroll = buttons(dm)["Reroll"]
    # The process of direct messages reads the server's settings: they are in its memory now.
    assert await answered(await discord_api.press(dm, reroll, user=user))

    assert "rock" in await admin(discord_api, "block", word="rock")
    changed_at = time.monotonic()
    refusal = None
    while refusal is None and time.monotonic() - changed_at < DEADLINE_SECONDS:
        press = await discord_api.press(dm, reroll, user=user)
        if not await answered(press):
            refusal = private_text(press)
        # Each press still allowed queues a job: pressed as fast as the bot answers, they
        # reached USER_MAX_QUEUED (50) within the second the settings may be cached.
        await asyncio.sleep(PRESS_EVERY_SECONDS)
    assert refusal is not None, "the other process still allows the word"
    assert "does not allow the word “rock”" in refusal
    assert "rock" in PROMPT

    for process in (direct, server):
        clean(process.log)
