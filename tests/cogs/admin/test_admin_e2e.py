"""When the API cannot serve anyone (credits gone, key refused): pause, tell the owner once."""

from __future__ import annotations

import pytest

from bot.posebot import PoseBot
from bot.storage import job_store as states
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import card_text, delivered, pose, private_reply, refused


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.insufficient_credits(), "credits have run out"),
        (Fault.error(401, "no way"), "refused the bot's API key"),
    ],
)
async def test_a_pause_holds_every_request_and_alerts_the_owner_once(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    fault: Fault,
    reason: str,
) -> None:
    segmind.faults.append(fault)
    bot: PoseBot = await start_bot(
        segmind_max_concurrency=1, alert_channel_id=FakeDiscord.CHANNEL_ID
    )
    users = [discord_api.make_user(600 + n, f"u{n}") for n in range(3)]
    requests = [await pose(discord_api, user=user) for user in users]
    for interaction in requests:
        await interaction.wait_for(lambda i: card_text(i).startswith("⏸️ Paused"))
        assert reason in card_text(interaction)
    assert len(segmind.submits) == 1, "nothing more is sent while paused"
    assert await stored_jobs(bot.store, states.QUEUED, count=3)
    assert await bot.store.jobs([states.FAILED]) == []
    await discord_api.wait_for(lambda: len(discord_api.channel_messages) == 2)  # DM + channel
    [dm] = discord_api.dm_messages(FakeDiscord.OWNER_ID)
    assert "/admin resume" in dm.content
    assert [m.content for m in discord_api.channel_messages if m is not dm] == [dm.content]

    stranger = await discord_api.invoke("admin", subcommand="resume", user=users[0])
    assert "Only the bot's owner" in await refused(stranger)
    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    resumed = await discord_api.invoke("admin", subcommand="resume", user=owner)
    assert "Resumed: 3 waiting" in await refused(resumed)
    for interaction in requests:
        await delivered(interaction)
    assert len(segmind.submits) == 4
    assert len(discord_api.dm_messages(FakeDiscord.OWNER_ID)) == 1, "one alert, not one per job"


async def test_the_owner_can_pause_and_see_spend_and_no_one_else_can(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(daily_budget_usd=20.0)
    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    admin_member = discord_api.make_user(77, "server admin")
    await delivered(await pose(discord_api))

    for command in ("pause", "spend"):
        attempt = await discord_api.invoke(
            "admin", subcommand=command, user=admin_member, permissions=1 << 5
        )
        assert "Only the bot's owner" in await refused(attempt)

    answer = await discord_api.invoke("admin", subcommand="spend", user=owner)
    spend = (await private_reply(answer)).content or ""
    assert "credits left (after the latest generation): 99.42" in spend
    assert "1 generation, $0.58 of the $20.00 budget" in spend
    assert "- Fake Guild: 1 generation, $0.58" in spend

    paused = await discord_api.invoke("admin", subcommand="pause", user=owner)
    assert "Paused" in await refused(paused)
    held = await pose(discord_api, user=discord_api.make_user(78, "member"))
    await held.wait_for(lambda i: card_text(i).startswith("⏸️ Paused"))
    assert len(segmind.submits) == 1
    await refused(await discord_api.invoke("admin", subcommand="resume", user=owner))
    await delivered(held)
    assert len(segmind.submits) == 2


async def test_a_pause_outlives_a_restart_without_a_second_alert(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.faults.append(Fault.error(406, "Insufficient credits"))
    bot: PoseBot = await start_bot(database_url=database_url)
    interaction = await pose(discord_api)
    await interaction.wait_for(lambda i: card_text(i).startswith("⏸️ Paused"))
    await bot.shutdown(grace=1)
    restarted: PoseBot = await start_bot(database_url=database_url)
    assert restarted.runner.paused is not None
    newcomer = await pose(discord_api, user=discord_api.make_user(79, "newcomer"))
    await newcomer.wait_for(lambda i: card_text(i).startswith("⏸️ Paused"))
    assert len(segmind.submits) == 1, "nothing is sent after the restart either"
    assert len(discord_api.dm_messages(FakeDiscord.OWNER_ID)) == 1
    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    await refused(await discord_api.invoke("admin", subcommand="resume", user=owner))
    await delivered(interaction)
    await delivered(newcomer)
