"""/settings end to end: a user's defaults fill in what /pose, "Pose this character" and
✏️ New pose leave out, the options given win, 🎲 Reroll keeps its result's, /forget-me
deletes them."""

from __future__ import annotations

import base64
from typing import Any

from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import delivered, png, pose, private_text, refused, save_character

JSON = dict[str, Any]


async def open_settings(discord_api: FakeDiscord, user: JSON) -> FakeMessage:
    opened = await discord_api.invoke("settings", user=user)
    await opened.wait_for(lambda i: i.original is not None)
    assert opened.deferred_ephemeral, "answered at once, privately"
    panel = opened.original
    assert panel is not None and panel.ephemeral
    return panel


async def changed(interaction: FakeInteraction, panel: FakeMessage, edits: int) -> None:
    """Wait until the panel shows the change (one more edit of it)."""
    await interaction.wait_for(lambda i: len(panel.edits) > edits or private_text(i) is not None)
    assert private_text(interaction) is None, private_text(interaction)


async def pick(discord_api: FakeDiscord, panel: FakeMessage, custom_id: str, value: str) -> None:
    edits = len(panel.edits)
    await changed(await discord_api.select(panel, custom_id, value), panel, edits)


async def fill_form(discord_api: FakeDiscord, panel: FakeMessage, **values: str) -> FakeInteraction:
    pressed = await discord_api.press(panel, "settings:numbers")
    await pressed.wait_for(lambda i: i.modal is not None)
    return await discord_api.submit_modal(pressed, values)


def component(panel: FakeMessage, custom_id: str) -> JSON:
    found = [
        c
        for row in panel.components
        for c in row.get("components", [])
        if c.get("custom_id") == custom_id
    ]
    assert found, f"no {custom_id} on {panel!r}"
    return found[0]


def chosen(panel: FakeMessage, custom_id: str) -> list[str]:
    return [o["value"] for o in component(panel, custom_id)["options"] if o.get("default")]


def buttons(message: FakeMessage) -> dict[str, str]:
    return {
        c["label"]: c["custom_id"]
        for row in message.components
        for c in row.get("components", [])
        if "custom_id" in c
    }


async def test_defaults_fill_in_what_pose_leaves_out_and_given_options_win(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=0)
    alice = discord_api.make_user(7001, "alice")
    aria = await save_character(bot, 7001, "Aria", "silver hair")

    panel = await open_settings(discord_api, alice)
    assert "Size: Square (1024×1024) (the bot's default)" in (panel.content or "")
    assert chosen(panel, "settings:size") == ["none"]
    assert component(panel, "settings:reset")["disabled"] is True

    await pick(discord_api, panel, "settings:size", "portrait")
    [character] = await bot.characters.usable(7001, FakeDiscord.GUILD_ID)
    await pick(discord_api, panel, "settings:character", str(character.id))
    edits = len(panel.edits)
    form = await fill_form(
        discord_api, panel, steps="30", guidance="5,5", negative_prompt="blurry, extra fingers"
    )
    await changed(form, panel, edits)
    text = panel.content or ""
    for line in (
        "Size: Portrait (832×1216)",
        "Steps: 30",
        "Guidance: 5.5",
        "Negative prompt: blurry, extra fingers",
        "Character: Aria",
    ):
        assert line in text, text
    assert chosen(panel, "settings:size") == ["portrait"]
    assert chosen(panel, "settings:character") == [str(character.id)]

    # Everything left out, the character too: all of it from the settings.
    first = await discord_api.invoke(
        "pose", [{"name": "prompt", "type": 3, "value": "waving"}], user=alice
    )
    result = await delivered(first)
    body = segmind.submits[-1].body
    assert (body["width"], body["height"], body["steps"]) == (832, 1216, 30)
    assert body["guidance_scale"] == 5.5
    assert body["negative_prompt"].startswith("blurry, extra fingers")
    assert body["prompt"] == "silver hair, waving"
    assert base64.b64decode(body["ip_image"]) == aria
    fields = {f["name"]: f["value"] for f in result.embeds[0]["fields"]}
    assert fields["Steps"] == "30" and fields["Guidance"] == "5.5"
    assert fields["Size"] == "portrait 832×1216", "the embed shows the values used"

    # Options given win over the settings; an attached character over the default one.
    await delivered(
        await pose(
            discord_api,
            user=alice,
            steps=12,
            guidance=2.0,
            size="landscape",
            negative_prompt="rain",
        )
    )
    body = segmind.submits[-1].body
    assert (body["width"], body["height"], body["steps"], body["guidance_scale"]) == (
        1216,
        832,
        12,
        2.0,
    )
    assert body["negative_prompt"].startswith("rain")
    assert "blurry" not in body["negative_prompt"]
    assert base64.b64decode(body["ip_image"]) != aria

    # 🎲 Reroll is the result's request again: the settings, changed since, do not apply.
    await pick(discord_api, panel, "settings:size", "square")
    await delivered(await discord_api.press(result, buttons(result)["Reroll"]))
    body = segmind.submits[-1].body
    assert (body["width"], body["height"], body["steps"]) == (832, 1216, 30)

    # ✏️ New pose: the form's words, the result's seed and character, the presser's defaults.
    first_seed = segmind.submits[0].body["seed"]
    new_pose = await discord_api.press(result, buttons(result)["New pose"])
    await new_pose.wait_for(lambda i: i.modal is not None)
    await delivered(await discord_api.submit_modal(new_pose, {"prompt": "now jumping"}))
    body = segmind.submits[-1].body
    assert (body["prompt"], body["seed"], body["width"], body["steps"]) == (
        "now jumping",
        first_seed,
        1024,
        30,
    )
    assert base64.b64decode(body["ip_image"]) == aria

    # "Pose this character": the form asks for the words, the rest is the settings'.
    attachment = discord_api.add_attachment("oc.png", png((640, 480)))
    message = discord_api.add_user_message("my OC", [attachment])
    menu = await discord_api.invoke_message_command("Pose this character", message, user=alice)
    await menu.wait_for(lambda i: i.modal is not None)
    await delivered(await discord_api.submit_modal(menu, {"prompt": "dancing"}))
    body = segmind.submits[-1].body
    assert (body["width"], body["steps"], body["guidance_scale"]) == (1024, 30, 5.5)

    # Jobs made from the saved character say so (/history filters by it).
    rows = await bot.store.database.fetch(
        "SELECT character_id FROM jobs WHERE requester_id = $1 ORDER BY id", 7001
    )
    assert [row["character_id"] for row in rows] == [
        character.id,
        None,
        character.id,
        character.id,
        None,
    ]


async def test_a_user_without_settings_gets_the_built_in_defaults(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    await delivered(await pose(discord_api))
    body = segmind.submits[-1].body
    assert (body["width"], body["steps"], body["guidance_scale"]) == (1024, 10, 3)
    nothing = await discord_api.invoke(
        "pose",
        [{"name": "prompt", "type": 3, "value": "hi"}],
        user=discord_api.make_user(7010, "new"),
    )
    assert "choose a default character in `/settings`" in await refused(nothing)
    assert len(segmind.submits) == 1


async def test_a_bad_form_changes_nothing_and_reset_clears_all(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url)
    bob = discord_api.make_user(7002, "bob")
    panel = await open_settings(discord_api, bob)
    await pick(discord_api, panel, "settings:size", "landscape")
    for steps, guidance, refusal in (
        ("ab", "", "Steps must be a whole number from 1 to 70."),
        ("90", "", "Steps must be from 1 to 70."),
        ("", "20", "Guidance must be from 1 to 15."),
    ):
        form = await fill_form(discord_api, panel, steps=steps, guidance=guidance)
        await form.wait_for(lambda i: private_text(i) is not None)
        assert private_text(form) == refusal
    defaults = await bot.user_settings.get(7002)
    assert (defaults.size, defaults.steps, defaults.guidance) == ("landscape", None, None)

    edits = len(panel.edits)
    await changed(await discord_api.press(panel, "settings:reset"), panel, edits)
    assert "Size: Square (1024×1024) (the bot's default)" in (panel.content or "")
    assert await bot.store.database.fetch("SELECT * FROM user_settings") == []


async def test_forget_me_deletes_the_settings(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url)
    carol = discord_api.make_user(7003, "carol")
    dave = discord_api.make_user(7004, "dave")
    await pick(discord_api, await open_settings(discord_api, carol), "settings:size", "portrait")
    await pick(discord_api, await open_settings(discord_api, dave), "settings:size", "portrait")
    question = await discord_api.invoke("forget-me", user=carol)
    await question.wait_for(lambda i: i.original is not None)
    assert question.original is not None
    await discord_api.press(question.original, buttons(question.original)["Confirm"])
    await discord_api.wait_for(
        lambda: (
            "/settings" in ((question.original and question.original.content) or "")
            and "Deleted" in (question.original.content or "")
        )
    )
    assert (await bot.user_settings.get(7003)).empty
    assert (await bot.user_settings.get(7004)).size == "portrait", "only the asker's"
