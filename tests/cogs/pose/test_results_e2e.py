"""Consistency made easy: saved characters in /pose, result buttons, and "Pose this character"."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import (
    decode,
    delivered,
    png,
    pose,
    private_text,
    refused,
    save_character,
)

MANAGE_MESSAGES = 1 << 13


async def pose_saved(
    discord_api: FakeDiscord, saved: str, *, user: dict | None = None, prompt: str = "waving"
) -> FakeInteraction:
    return await discord_api.invoke(
        "pose",
        [
            {"name": "prompt", "type": 3, "value": prompt},
            {"name": "saved", "type": 3, "value": saved},
        ],
        user=user,
    )


def buttons(message: FakeMessage) -> dict[str, str]:
    """Label → custom_id of the buttons on a message."""
    return {
        component["label"]: component["custom_id"]
        for row in message.components
        for component in row.get("components", [])
        if "custom_id" in component
    }


def sent_image(body: dict, field: str = "ip_image") -> bytes:
    return base64.b64decode(body[field])


async def test_pose_takes_exactly_one_character(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    neither = await discord_api.invoke("pose", [{"name": "prompt", "type": 3, "value": "hi"}])
    # Without a default character in /settings (tests/test_user_settings_e2e.py).
    assert "Give a character" in await refused(neither)
    attachment = discord_api.add_attachment("a.png", png())
    both = await discord_api.invoke(
        "pose",
        [
            {"name": "prompt", "type": 3, "value": "hi"},
            {"name": "character", "type": 11, "value": attachment["id"]},
            {"name": "saved", "type": 3, "value": "Aria"},
        ],
        attachments=[attachment],
    )
    assert "exactly one character" in await refused(both)
    unknown = await pose_saved(discord_api, "Nobody")
    assert "no character called “Nobody”" in await refused(unknown)
    assert segmind.submits == []


async def test_a_saved_character_is_sent_with_its_look_before_the_prompt(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot = await start_bot()
    user = discord_api.make_user(42, "author")
    stored = await save_character(bot, 42, "Aria", "red cloak, silver hair")
    result = await delivered(await pose_saved(discord_api, "aria", user=user, prompt="sitting"))
    [submit] = segmind.submits
    assert submit.body["prompt"] == "red cloak, silver hair, sitting"
    assert sent_image(submit.body) == stored, "the stored image, not a CDN link"
    assert result.embeds[0]["description"] == "red cloak, silver hair, sitting"


async def test_saved_autocomplete_offers_only_what_the_user_may_use(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot()
    await save_character(bot, 1, "Zed")
    await save_character(bot, 1, "Aria")
    await save_character(bot, 2, "Borin", shared=True)
    await save_character(bot, 2, "Secret")
    typing = await discord_api.autocomplete(
        "pose",
        [{"name": "prompt", "type": 3, "value": "x"}, {"name": "saved", "type": 3, "value": ""}],
        focused="saved",
        user=discord_api.make_user(1, "one"),
    )
    await typing.wait_for(lambda i: i.choices is not None)
    assert [choice["value"] for choice in typing.choices] == ["Aria", "Zed", "Borin"]


async def test_result_buttons_reroll_and_new_pose_make_new_jobs_for_the_presser(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=0)
    first = await delivered(await pose(discord_api, seed=77, steps=20))
    assert list(buttons(first)) == [
        "Reroll",
        "New pose",
        "Save character",
        "Add to story",
        "Delete",
    ]
    fan = discord_api.make_user(900, "fan")

    reroll = await discord_api.press(first, buttons(first)["Reroll"], user=fan)
    rerolled = await delivered(reroll)
    original_body, reroll_body = segmind.submits[0].body, segmind.submits[1].body
    assert reroll_body["seed"] != 77
    for same in ("prompt", "steps", "guidance_scale", "width", "height", "ip_image"):
        assert reroll_body[same] == original_body[same], same
    fields = {f["name"]: f["value"] for f in rerolled.embeds[0]["fields"]}
    assert fields["Requested by"] == "<@900>", "a press is a request by the presser"
    assert str(first.id) in fields["From"], "the result links to the one it came from"

    new_pose = await discord_api.press(first, buttons(first)["New pose"], user=fan)
    await new_pose.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(new_pose, {"prompt": "now jumping"}, user=fan)
    await delivered(submitted)
    body = segmind.submits[2].body
    assert (body["prompt"], body["seed"], body["steps"]) == ("now jumping", 77, 20)
    assert body["ip_image"] == original_body["ip_image"]


async def test_a_press_obeys_the_pressers_cooldown(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=60)
    first = await delivered(await pose(discord_api))
    again = await discord_api.press(first, buttons(first)["Reroll"])
    assert "next generation <t:" in await refused(again)
    assert len(segmind.submits) == 1


async def test_save_character_keeps_the_result_for_the_presser(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot = await start_bot()
    requested = await pose(discord_api)
    result = await delivered(requested)
    fan = discord_api.make_user(901, "fan")
    press = await discord_api.press(result, buttons(result)["Save character"], user=fan)
    await press.wait_for(lambda i: i.modal is not None)
    saved = await discord_api.submit_modal(
        press, {"name": "Hero", "description": "green tunic"}, user=fan
    )
    await saved.wait_for(lambda i: private_text(i) is not None)
    assert "Saved “Hero”" in private_text(saved)
    character = await bot.characters.find(901, FakeDiscord.GUILD_ID, "hero")
    assert character is not None
    assert character.description == "green tunic"
    assert decode(character.data).size == (1024, 1024), "the generated image itself"
    requester = int(requested.user["id"])
    assert await bot.characters.find(requester, FakeDiscord.GUILD_ID, "hero") is None


@pytest.mark.parametrize("who", ["stranger", "requester", "moderator"])
async def test_delete_is_for_the_requester_or_a_moderator(
    start_bot: StartBot, discord_api: FakeDiscord, who: str
) -> None:
    await start_bot()
    interaction = await pose(discord_api)
    result = await delivered(interaction)
    presser = {
        "stranger": discord_api.make_user(902, "stranger"),
        "requester": interaction.user,
        "moderator": discord_api.make_user(903, "mod"),
    }[who]
    permissions = MANAGE_MESSAGES if who == "moderator" else 0
    press = await discord_api.press(
        result, buttons(result)["Delete"], user=presser, permissions=permissions
    )
    if who == "stranger":
        assert "Only the person who asked" in await refused(press)
        assert not result.deleted
    else:
        await discord_api.wait_for(lambda: result.deleted)


async def test_every_button_keeps_working_after_a_restart(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot = await start_bot(user_cooldown_seconds=0, database_url=database_url)
    requested = await pose(discord_api)
    result = await delivered(requested)
    await asyncio.wait_for(bot.shutdown(grace=1), timeout=15)
    bot = await start_bot(user_cooldown_seconds=0, database_url=database_url)
    ids = buttons(result)

    await delivered(await discord_api.press(result, ids["Reroll"]))
    new_pose = await discord_api.press(result, ids["New pose"])
    await new_pose.wait_for(lambda i: i.modal is not None)
    await delivered(await discord_api.submit_modal(new_pose, {"prompt": "after the restart"}))
    assert [s.body["prompt"] for s in segmind.submits][-1] == "after the restart"

    save = await discord_api.press(result, ids["Save character"])
    await save.wait_for(lambda i: i.modal is not None)
    saved = await discord_api.submit_modal(save, {"name": "Survivor"})
    await saved.wait_for(lambda i: private_text(i) is not None)
    requester = int(requested.user["id"])
    assert await bot.characters.find(requester, FakeDiscord.GUILD_ID, "Survivor") is not None

    await discord_api.press(result, ids["Delete"])
    await discord_api.wait_for(lambda: result.deleted)
    assert len(segmind.submits) == 3


async def test_pose_this_character_from_a_message_image(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    picture = png((640, 480), (10, 200, 10))
    attachment = discord_api.add_attachment("oc.png", picture)
    with_image = discord_api.add_user_message("my OC!", [attachment])
    menu = await discord_api.invoke_message_command("Pose this character", with_image)
    await menu.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(menu, {"prompt": "the OC, dancing"})
    await delivered(submitted)
    [submit] = segmind.submits
    assert submit.body["prompt"] == "the OC, dancing"
    assert decode(sent_image(submit.body)).size == (640, 480)
    assert decode(sent_image(submit.body)).getpixel((5, 5)) == (10, 200, 10)

    without = discord_api.add_user_message("no picture here")
    refusal = await discord_api.invoke_message_command("Pose this character", without)
    assert "no image" in await refused(refusal)
    assert len(segmind.submits) == 1
