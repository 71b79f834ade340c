"""A result's buttons start a job under the rules of the server the result was made in, also
when they are pressed in a direct message (a private result delivered after its token ended):
the bot switched off, blocked words, allowed channels, the server's caps and its negative
prompt all apply, and the new job counts toward that server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.posebot import PoseBot
from bot.storage.database import connect
from tests.cogs.admin.test_server_admin_e2e import admin
from tests.cogs.pose.test_results_e2e import buttons
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import accepted, delivered, pose, refused

PROMPT = "the hero, sitting on a rock, waving"


async def direct_result(
    discord_api: FakeDiscord, segmind: FakeSegmind, user: dict[str, Any], database_url: str
) -> FakeMessage:
    """A private result that reached its requester by direct message: its token ended while
    it was being made. Returned once the bot has recorded where it is."""
    assert "Results: private" in await admin(discord_api, "results", private=True)
    submitted = len(segmind.submits)
    late = await pose(discord_api, user=user, prompt=PROMPT)
    await discord_api.wait_for(lambda: len(segmind.submits) > submitted)
    late.expired = True  # Discord refuses the token: the result goes by direct message
    await discord_api.wait_for(lambda: bool(discord_api.dm_messages(int(user["id"]))))
    [dm] = discord_api.dm_messages(int(user["id"]))
    assert dm.files
    database = await connect(database_url)
    try:
        sql = "SELECT id FROM jobs WHERE result_message_id = $1"
        for _ in range(200):
            if await database.fetch(sql, dm.id):
                return dm
            await asyncio.sleep(0.05)
    finally:
        await database.close()
    raise AssertionError("the direct message was never recorded as the result")


async def start(start_bot: StartBot, segmind: FakeSegmind, database_url: str) -> PoseBot:
    segmind.latency = 0.5
    return await start_bot(database_url=database_url, user_cooldown_seconds=0)


RULES: dict[str, tuple[str, dict[str, Any], str]] = {
    "off": ("enable", {"on": False}, "turned the bot off here"),
    "blocked word": ("block", {"word": "rock"}, "does not allow the word “rock”"),
    "channels": (
        "channel",
        {"channel": str(FakeDiscord.OTHER_CHANNEL_ID), "allowed": True},
        "/pose can be used in",
    ),
    "server cap": ("caps", {"server": 1}, "This server's 1 generations for today are used"),
    "member cap": ("caps", {"user": 1}, "You have used your 1 generations"),
}


@pytest.mark.parametrize("rule", list(RULES))
async def test_a_reroll_in_a_direct_message_keeps_its_servers_rules(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    rule: str,
) -> None:
    await start(start_bot, segmind, database_url)
    user = discord_api.make_user(88, "late")
    dm = await direct_result(discord_api, segmind, user, database_url)
    subcommand, options, refusal = RULES[rule]
    await admin(discord_api, subcommand, **options)

    press = await discord_api.press(dm, buttons(dm)["Reroll"], user=user)
    assert refusal in await refused(press)
    assert len(segmind.submits) == 1, [(s.body["prompt"], s.status) for s in segmind.submits]

    new_pose = await discord_api.press(dm, buttons(dm)["New pose"], user=user)
    await new_pose.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(new_pose, {"prompt": PROMPT + " again"})
    assert refusal in await refused(submitted)
    assert len(segmind.submits) == 1


async def test_a_reroll_in_a_direct_message_counts_toward_its_server(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
) -> None:
    await start(start_bot, segmind, database_url)
    user = discord_api.make_user(88, "late")
    dm = await direct_result(discord_api, segmind, user, database_url)
    await admin(discord_api, "caps", server=2)
    await admin(discord_api, "negative-prompt", text="blurry hands")

    press = await discord_api.press(dm, buttons(dm)["Reroll"], user=user)
    await accepted(press)
    await discord_api.wait_for(lambda: len(segmind.submits) == 2)
    assert "blurry hands" in segmind.submits[1].body["negative_prompt"], "the server's own"
    [rerolled] = [job for job in await jobs_of(database_url) if job["parent_job_id"]]
    assert rerolled["guild_id"] == FakeDiscord.GUILD_ID

    # The server's two generations are used: the first result and the reroll.
    someone = discord_api.make_user(89, "someone")
    assert "This server's 2 generations" in await refused(await pose(discord_api, user=someone))


async def test_a_button_on_a_result_made_outside_any_server_refuses_privately(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
) -> None:
    await start_bot(database_url=database_url, user_cooldown_seconds=0)
    result = await delivered(await pose(discord_api))
    # As a result of "Pose this character" used in a direct message is stored.
    await set_guild_of_every_job(database_url, None)

    press = await discord_api.press(result, buttons(result)["Reroll"])
    assert "not made in a server" in await refused(press)
    assert [m for m in press.messages() if not m.ephemeral and not m.deleted] == []
    new_pose = await discord_api.press(result, buttons(result)["New pose"])
    await new_pose.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(new_pose, {"prompt": "jumping"})
    assert "not made in a server" in await refused(submitted)
    assert len(segmind.submits) == 1


async def jobs_of(database_url: str) -> list[dict[str, Any]]:
    database = await connect(database_url)
    try:
        return await database.fetch("SELECT * FROM jobs ORDER BY id")
    finally:
        await database.close()


async def set_guild_of_every_job(database_url: str, guild_id: int | None) -> None:
    database = await connect(database_url)
    try:
        await database.execute("UPDATE jobs SET guild_id = $1", guild_id)
    finally:
        await database.close()
