"""A server's admins set where and how /pose is used; every rule refuses before any paid call."""

from __future__ import annotations

import time
from typing import Any

from bot.domain.server_rules import SAFE_NEGATIVE_PROMPT
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import answer_text, delivered, png, pose, refused

MANAGE_GUILD = 1 << 5


async def admin(
    discord_api: FakeDiscord, subcommand: str, permissions: int = MANAGE_GUILD, **options: Any
) -> str:
    types = {bool: 5, int: 4, str: 3}
    sent = [
        {"name": name, "type": 7 if name == "channel" else types[type(value)], "value": value}
        for name, value in options.items()
    ]
    interaction = await discord_api.invoke(
        "admin", sent, subcommand=subcommand, permissions=permissions
    )
    return await refused(interaction)


async def test_admin_commands_need_manage_server(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot()
    assert "Manage Server" in await admin(discord_api, "enable", permissions=0, on=False)
    assert "Bot: on" in await admin(discord_api, "settings")


async def test_each_rule_refuses_before_any_paid_call(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=0)
    await admin(discord_api, "block", word="Dragon")
    text = await refused(await pose(discord_api, prompt="a DRAGON rider"))
    assert "does not allow the word “dragon”" in text
    await delivered(await pose(discord_api, prompt="a dragonfly"))  # whole words only

    other_channel = str(FakeDiscord.OTHER_CHANNEL_ID)
    await admin(discord_api, "channel", channel=other_channel, allowed=True)
    assert f"can be used in <#{other_channel}>" in await refused(await pose(discord_api))
    await admin(discord_api, "channel", channel=other_channel, allowed=False)

    await admin(discord_api, "enable", on=False)
    assert "turned the bot off" in await refused(await pose(discord_api))
    await admin(discord_api, "enable", on=True)

    await admin(discord_api, "caps", server=1)  # the dragonfly used it
    assert "server's 1 generations for today are used" in await refused(await pose(discord_api))
    assert len(segmind.submits) == 1


async def test_a_member_cap_overrides_the_bots_default(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=0, user_daily_limit=10)
    await admin(discord_api, "caps", user=1)
    await delivered(await pose(discord_api))
    assert "used your 1 generations" in await refused(await pose(discord_api))


async def test_negative_prompts_the_server_adds(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=0)
    await admin(discord_api, "negative-prompt", text="blurry")
    await delivered(await pose(discord_api, negative_prompt="extra fingers"))
    assert segmind.submits[-1].body["negative_prompt"] == (
        f"extra fingers, blurry, {SAFE_NEGATIVE_PROMPT}"
    )
    await admin(discord_api, "nsfw", allowed=True)
    await delivered(await pose(discord_api))
    assert SAFE_NEGATIVE_PROMPT in segmind.submits[-1].body["negative_prompt"], (
        "relaxed only in an age-restricted channel"
    )


async def test_an_age_restricted_channel_may_relax_the_nudity_default(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    discord_api.channel_age_restricted = True
    await start_bot(user_cooldown_seconds=0)
    await delivered(await pose(discord_api))
    assert segmind.submits[-1].body["negative_prompt"] == SAFE_NEGATIVE_PROMPT, "off by default"
    await admin(discord_api, "nsfw", allowed=True)
    await delivered(await pose(discord_api))
    assert segmind.submits[-1].body["negative_prompt"] == ""


async def test_settings_survive_a_restart(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url)
    await admin(discord_api, "block", word="gore")
    await admin(discord_api, "caps", server=7, user=3)
    await bot.shutdown(grace=1)
    await start_bot(database_url=database_url)
    shown = await admin(discord_api, "settings")
    assert "Blocked words: gore" in shown
    assert "Server cap: 7" in shown
    assert "Per-member cap: 3" in shown


async def test_blocked_words_are_refused_in_a_saved_characters_look_too(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot()
    await admin(discord_api, "block", word="gore")
    attachment = discord_api.add_attachment("hero.png", png())
    saving = await discord_api.invoke(
        "character",
        [
            {"name": "name", "type": 3, "value": "Hero"},
            {"name": "image", "type": 11, "value": attachment["id"]},
            {"name": "description", "type": 3, "value": "covered in GORE"},
        ],
        subcommand="save",
        attachments=[attachment],
    )
    assert "does not allow the word “gore”" in await refused(saving)
    assert await bot.characters.usable(int(saving.user["id"]), FakeDiscord.GUILD_ID) == []
    assert discord_api.cdn_requests == [], "refused before the image was downloaded"


async def test_private_results_stay_with_the_requester_even_after_the_token(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    offset = [0.0]
    segmind.latency = 0.5
    await start_bot(clock=lambda: time.time() + offset[0])
    assert "Results: private" in await admin(discord_api, "results", private=True)
    first = await pose(discord_api)
    result = await delivered(first)
    assert first.deferred_ephemeral
    assert result.ephemeral

    late_user = discord_api.make_user(88, "late")
    late = await pose(discord_api, user=late_user)
    await discord_api.wait_for(lambda: len(segmind.submits) == 2)
    offset[0] = 15 * 60  # the interaction's token dies before the image is ready
    late.expired = True
    await discord_api.wait_for(lambda: bool(discord_api.dm_messages(88)))
    [dm] = discord_api.dm_messages(88)
    assert dm.files
    assert dm.content == "Your pose is ready."
    in_guild = [m for m in discord_api.channel_messages if m.channel_id == FakeDiscord.CHANNEL_ID]
    assert in_guild == [], "nothing was posted where others can see it"


async def usage(discord_api: FakeDiscord, user: dict[str, Any] | None = None) -> str:
    return await answer_text(await discord_api.invoke("usage", user=user, permissions=0))


async def test_usage_says_what_pose_decides_under_the_servers_caps(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=0, user_daily_limit=10)
    await admin(discord_api, "caps", user=1)
    await delivered(await pose(discord_api))
    mine = await usage(discord_api)
    assert "1 generation ($0.58); 0 of your 1 are left." in mine
    refusal = await refused(await pose(discord_api))
    assert "You have used your 1 generations for today" in refusal
    assert refusal in mine, "the same words, the same moment"

    # A member with room of their own is told what the server's cap leaves.
    other = discord_api.make_user(73, "other")
    await admin(discord_api, "caps", server=3, user=0)
    assert "This server's daily cap leaves room for 2 more." in await usage(discord_api, other)
    await admin(discord_api, "caps", server=1)
    theirs = await usage(discord_api, other)
    assert "10 of your 10 are left." in theirs
    refusal = await refused(await pose(discord_api, user=other))
    assert "This server's 1 generations for today are used" in refusal
    assert refusal in theirs
    assert len(segmind.submits) == 1


async def test_blocked_words_are_found_whatever_their_form(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=0)
    assert "nothing visible" in await admin(discord_api, "block", word="\u200b\u2060")
    assert "Blocked words: none" in await admin(discord_api, "settings")
    await admin(discord_api, "block", word="Ｇore")  # full-width, as a phone keyboard may type
    assert "Blocked words: gore" in await admin(discord_api, "settings")
    for prompt in ("covered in ＧＯＲＥ", "covered in go\u200bre", "covered in GORE"):
        text = await refused(await pose(discord_api, prompt=prompt))
        assert "does not allow the word “gore”" in text, prompt
    assert segmind.submits == []
    await admin(discord_api, "unblock", word="GORE")
    assert "Blocked words: none" in await admin(discord_api, "settings")
