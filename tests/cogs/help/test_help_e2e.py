"""/help: a private guide with every section, and the limits that really apply here."""

from __future__ import annotations

import dataclasses

from bot.posebot import PoseBot
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.user_actions import private_reply

SECTIONS = (
    "1. Your first /pose",
    "2. Saving a character",
    "3. The buttons under a result",
    "4. Your limits",
    "5. A worked example",
    "6. Stories and character sheets",
)


async def test_help_answers_privately_with_every_section_and_the_real_limits(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot: PoseBot = await start_bot(
        user_cooldown_seconds=45,
        user_daily_limit=10,
        user_max_queued=4,
        user_max_characters=12,
        daily_budget_usd=30.0,
    )
    server = await bot.servers.get(FakeDiscord.GUILD_ID)
    await bot.servers.save(dataclasses.replace(server, user_cap=7, daily_cap=40))

    asked = await discord_api.invoke("help")
    answer = await private_reply(asked)
    assert answer.ephemeral
    assert asked.acknowledged_after() < 3, "answered within Discord's 3 seconds"
    [embed] = answer.embeds
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert tuple(fields) == SECTIONS
    assert "/pose character:knight.png prompt:the knight, kneeling" in fields[SECTIONS[0]]
    assert "/character save name:Aria" in fields[SECTIONS[1]]
    assert "keep 12 characters" in fields[SECTIONS[1]]
    for button in (
        "🎲 **Reroll**",
        "✏️ **New pose**",
        "💾 **Save character**",
        "📖 **Add to story**",
        "🗑️ **Delete**",
    ):
        assert button in fields[SECTIONS[2]]
    limits = fields[SECTIONS[3]]
    assert "one accepted request every 45 seconds" in limits
    # The server's per-member cap replaces USER_DAILY_LIMIT; its own cap is shown too.
    assert "7 generations per 24 hours (this server's cap per member)" in limits
    assert "10 generations" not in limits
    assert "40 generations per 24 hours for everyone here" in limits
    assert "at most 4 of your requests waiting" in limits
    assert "daily budget" in limits
    example = fields[SECTIONS[4]]
    assert "(45 seconds later)" in example
    assert "up to 4 of yours can wait" in example
    assert "After 7 generations in 24 hours" in example
    assert "<t:" in example, "times in the reader's own time zone"
    stories = fields[SECTIONS[5]]
    for command in ("/story new", "/story add", "/story show", "/story export", "/sheet"):
        assert f"`{command}" in stories


async def test_help_without_server_caps_gives_the_bots_defaults(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot(user_cooldown_seconds=300, user_daily_limit=9)
    [embed] = (await private_reply(await discord_api.invoke("help"))).embeds
    limits = embed["fields"][3]["value"]
    assert "one accepted request every 5 minutes" in limits
    assert "9 generations per 24 hours; the oldest" in limits
    assert "none in this server" in limits
    assert "Budget" not in limits
