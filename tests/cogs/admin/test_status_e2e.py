"""/status as a server's admins and the bot's owner see it, and a channel that refuses a paid
result: the requester told privately which permission the bot lacks, the admins in /status."""

from __future__ import annotations

import time

from bot.posebot import PoseBot
from bot.storage import job_store as states
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import answer_text, delivered, pose, private_reply, refused

MANAGE_GUILD = 1 << 5
ATTACH_FILES = 1 << 15
ROLE = 0  # a permission overwrite's type: a role (@everyone shares the server's id)


async def status(discord_api: FakeDiscord, user_id: int, permissions: int, **extra: str) -> str:
    user = discord_api.make_user(user_id, f"user{user_id}")
    interaction = await discord_api.invoke("status", user=user, permissions=permissions, **extra)
    return await answer_text(interaction)


async def test_status_shows_admins_their_server_and_the_owner_everything(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot: PoseBot = await start_bot(
        database_url=database_url, daily_budget_usd=20.0, user_cooldown_seconds=0
    )
    await delivered(await pose(discord_api))
    segmind.faults.append(Fault(status=400, body={"error": "Prompt refused"}))
    await refused(await pose(discord_api))

    plain = await status(discord_api, 31, permissions=0)
    assert "Manage Server" in plain
    assert "Queue" not in plain

    admin = await status(discord_api, 32, permissions=MANAGE_GUILD)
    assert "**PoseBot 0.1.0**, this process up since <t:" in admin
    assert "Processes alive: 1 (1 all)." in admin
    assert bot.runner.owner not in admin, "the owner's machines are not a server's business"
    assert "Queue: 0 waiting, 0 generating." in admin
    assert "Not paused; a new request should start <t:" in admin
    assert "Last hour: 1 generation, median time" in admin
    assert "failures: 1 BadRequest." in admin
    assert "This server, last 24 hours: 1 generation, $0.58 (no cap; each member" in admin
    assert "every permission it needs in this server's /pose channels" in admin
    assert "Segmind credits" not in admin and "Everyone" not in admin

    await bot.runner.pause("the bot's owner paused generation")
    owner = await status(discord_api, FakeDiscord.OWNER_ID, permissions=0)
    assert f"all `{bot.runner.owner}`, last heartbeat <t:" in owner
    assert "Everyone: 1 generation, $0.58 of the $20.00 daily budget." in owner
    assert "Segmind credits left (after the latest generation):" in owner
    assert "Segmind balance at the latest check (<t:" in owner, "the hourly free check's"
    assert "⏸️ Generation is paused: the bot's owner paused generation." in owner

    german = await status(discord_api, FakeDiscord.OWNER_ID, permissions=0, locale="de")
    assert "Warteschlange: 0 wartend" in german

    await bot.shutdown(grace=1)
    assert not await bot.runner.heartbeats.alive(time.time()), "a stopped process is not alive"


async def test_a_channel_refusing_a_result_is_told_privately_billed_and_shown_in_status(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    offset = [0.0]
    segmind.latency = 0.5
    bot: PoseBot = await start_bot(
        clock=lambda: time.time() + offset[0],
        database_url=database_url,
        daily_budget_usd=0.58,  # one generation
        user_cooldown_seconds=0,
        job_lease_seconds=3600,  # the clock's jump below takes no lease away
    )
    requester = discord_api.make_user(41, "requester")
    interaction = await pose(discord_api, user=requester)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    # The result comes after the interaction's token ran out, into a channel where someone
    # took Attach Files away from everyone: Discord answers 403 50013.
    offset[0] = 15 * 60
    interaction.expired = True
    discord_api.channel_forbidden = True
    discord_api.channel_overwrites[FakeDiscord.CHANNEL_ID] = [
        {"id": str(FakeDiscord.GUILD_ID), "type": ROLE, "allow": "0", "deny": str(ATTACH_FILES)}
    ]
    await discord_api.wait_for(lambda: bool(discord_api.dm_messages(41)), timeout=15)
    [notice] = discord_api.dm_messages(41)
    assert f"may not post it in <#{FakeDiscord.CHANNEL_ID}>: it lacks Attach Files there" in (
        notice.content or ""
    )
    public = [m for m in discord_api.channel_messages if m.channel_id == FakeDiscord.CHANNEL_ID]
    assert not public, "nothing is said in the channel"
    await stored_jobs(bot.store, states.FAILED)

    other = discord_api.make_user(42, "other")
    assert "daily budget ($0.58) is used up" in await refused(await pose(discord_api, user=other))
    assert len(segmind.submits) == 1

    admin = await status(discord_api, 43, permissions=MANAGE_GUILD)
    assert f"<#{FakeDiscord.CHANNEL_ID}>: Attach Files" in admin
    assert f"<#{FakeDiscord.CHANNEL_ID}> <t:" in admin and "lacked Attach Files" in admin


async def test_status_fits_one_message_however_many_channels_refused(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot: PoseBot = await start_bot(database_url=database_url)
    for n in range(300):
        await bot.channel_problems.note(1000 + n, 2000 + n, ["Send Messages", "Attach Files"], n)
    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    interaction = await discord_api.invoke("status", user=owner, permissions=0)
    reply = await private_reply(interaction)
    assert "300 channels; first" in (reply.content or "")
    [(name, data, _)] = reply.files
    assert name == "refused-deliveries.txt"
    assert data.decode().count("Send Messages, Attach Files") == 300


async def test_a_result_the_channel_takes_again_clears_its_refusal_from_status(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    offset = [0.0]
    segmind.latency = 0.5
    bot: PoseBot = await start_bot(
        clock=lambda: time.time() + offset[0], database_url=database_url, job_lease_seconds=3600
    )
    await bot.channel_problems.note(
        FakeDiscord.GUILD_ID, FakeDiscord.CHANNEL_ID, ["Attach Files"], time.time()
    )
    assert "lacked Attach Files" in await status(discord_api, 51, permissions=MANAGE_GUILD)

    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    offset[0] = 15 * 60  # the result goes to the channel by the bot's own token
    interaction.expired = True
    await discord_api.wait_for(
        lambda: any(m.files for m in discord_api.channel_messages), timeout=15
    )
    await stored_jobs(bot.store, states.DELIVERED)
    assert "lacked" not in await status(discord_api, 51, permissions=MANAGE_GUILD)
