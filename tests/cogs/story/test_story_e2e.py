"""Stories end to end: results added with 📖 (after a restart too), arranged and captioned in
/story show, exported as PNG pages, a PDF and a ZIP; limits, /forget-me and the sweep."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

from PIL import PdfParser

from bot.posebot import PoseBot
from bot.ui import story_pages
from tests.cogs.pose.test_results_e2e import buttons
from tests.conftest import StartBot
from tests.fakes.discord import DEFAULT_PERMISSIONS, FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import (
    card_text,
    decode,
    delivered,
    pose,
    private_reply,
    private_text,
    save_character,
)

JSON = dict[str, Any]
GUILD = FakeDiscord.GUILD_ID
MANAGE_GUILD = 1 << 5


async def story(
    discord_api: FakeDiscord,
    subcommand: str,
    *,
    user: JSON | None = None,
    permissions: int = DEFAULT_PERMISSIONS,
    **options: str | bool,
) -> FakeInteraction:
    """Type a /story subcommand; every option is text but `shared` and `public`."""
    sent = [
        {"name": key, "type": 5 if isinstance(value, bool) else 3, "value": value}
        for key, value in options.items()
    ]
    return await discord_api.invoke(
        "story", sent, subcommand=subcommand, user=user, permissions=permissions
    )


async def said(interaction: FakeInteraction) -> str:
    await interaction.wait_for(lambda i: private_text(i) is not None, 20)
    return private_text(interaction) or ""


async def add(discord_api: FakeDiscord, result: FakeMessage, user: JSON | None = None) -> str:
    """Press 📖 under a result; what the presser is told."""
    return await said(await discord_api.press(result, buttons(result)["Add to story"], user=user))


def story_button(message: FakeMessage, action: str, number: int) -> str:
    for row in message.components:
        for component in row.get("components", []):
            custom_id = component.get("custom_id", "")
            if custom_id.startswith(f"story:{action}:") and component["label"] == str(number):
                return custom_id
    raise AssertionError(f"no {action} button for panel {number} on {message!r}")


def result_image(result: FakeMessage) -> bytes:
    [(_, data, _)] = result.files
    return data


def centre(image: Any, box: tuple[int, int, int, int]) -> tuple[int, ...]:
    left, top, right, bottom = box
    return image.convert("RGB").getpixel(((left + right) // 2, (top + bottom) // 2))


def near(one: tuple[int, ...], other: tuple[int, ...]) -> bool:
    return all(abs(a - b) <= 4 for a, b in zip(one, other, strict=True))


async def settled(bot: PoseBot, story_id: int) -> None:
    """Wait until the delivered request of a /story add or a redo is its panel: the result's
    message is posted a moment before its job is marked delivered."""
    for _ in range(100):
        if await bot.stories.settle(bot.clock(), story_id):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the delivered request never became a panel")


async def exported(
    discord_api: FakeDiscord, name: str, layout: str, kind: str, **options: Any
) -> list[FakeMessage]:
    """Export a story; every message that carries its files, once all of them came."""
    interaction = await story(
        discord_api, "export", story=name, layout=layout, format=kind, **options
    )
    await interaction.wait_for(lambda i: any(m.files for m in i.messages()), 30)
    await asyncio.sleep(0.3)
    return [m for m in interaction.messages() if m.files]


async def test_a_story_is_built_with_the_button_arranged_and_exported(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=0)
    assert (await said(await story(discord_api, "new", name="Dragon Tale"))).startswith(
        "Started “Dragon Tale”"
    )
    results = [await delivered(await pose(discord_api, seed=seed)) for seed in (11, 22)]
    assert list(buttons(results[0]))[3] == "Add to story", "a fifth button, before Delete"
    assert "panel 1" in await add(discord_api, results[0])
    assert "panel 2" in await add(discord_api, results[1])
    third = await delivered(await pose(discord_api, seed=33))

    # After a restart the button still works, and nothing is generated again.
    await asyncio.wait_for(bot.shutdown(grace=1), timeout=15)
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=0)
    assert "Added to “Dragon Tale” as panel 3" in await add(discord_api, third)
    results.append(third)

    # /story show: panel 1 moved later (now 2, 1, 3), then panel 3 captioned.
    shown = await story(discord_api, "show", story="dragon tale")
    board = await private_reply(shown)
    assert len(board.embeds) == 3 and len(board.files) == 3, "a thumbnail per panel"
    moved = await discord_api.press(board, story_button(board, "later", 1))
    await moved.wait_for(lambda i: bool(i.callbacks))
    await discord_api.wait_for(lambda: board.edits)
    caption = await discord_api.press(board, story_button(board, "caption", 3))
    await caption.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(caption, {"caption": "The dragon wakes."})
    await submitted.wait_for(lambda i: bool(i.callbacks))
    await discord_api.wait_for(
        lambda: [e["description"] for e in board.embeds][-1:] == ["The dragon wakes."]
    )
    order = [results[1], results[0], results[2]]

    # PNG pages, a 2×2 grid: one page; the panels' art in the new order, each the very
    # result it came from, the caption under the third; drawn as the pages module draws.
    [message] = await exported(discord_api, "Dragon Tale", "grid 2x2", "png")
    assert message.ephemeral, "an export is private unless asked otherwise"
    assert [name for name, _, _ in message.files] == ["dragon-tale-page-1.png"]
    panels = [
        story_pages.Panel(result_image(r), "The dragon wakes." if i == 2 else "")
        for i, r in enumerate(order)
    ]
    shape = story_pages.geometry(story_pages.Layout.GRID_2X2, panels)
    pages = [decode(data) for _, data, _ in message.files]
    for number, result in enumerate(order):
        page, slot = divmod(number, 4)
        source = decode(result_image(result))
        expected = centre(source, (0, 0, *source.size))
        assert near(centre(pages[page], shape.art_box(slot, page == 0)), expected), number
    for index, page in enumerate(pages):
        drawn = story_pages.compose_page("Dragon Tale", panels, story_pages.Layout.GRID_2X2, index)
        assert page.tobytes() == drawn.image.convert(page.mode).tobytes(), f"page {index + 1}"

    # A PDF of one page a panel; a ZIP of the panels at full resolution and their captions.
    [message] = await exported(discord_api, "Dragon Tale", "one per page", "pdf")
    [(name, data, _)] = message.files
    assert name.endswith(".pdf")
    assert len(PdfParser.PdfParser(buf=data).pages) == 3, "a page a panel"
    [message] = await exported(discord_api, "Dragon Tale", "grid 2x2", "zip")
    [(name, data, _)] = message.files
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = sorted(archive.namelist())
        assert [name.split(".")[0] for name in files] == [
            "captions",
            "panel-01",
            "panel-02",
            "panel-03",
        ]
        for name, result in zip(files[1:], order, strict=True):
            assert archive.read(name) == result_image(result), "the result's own file"
        assert "3. The dragon wakes." in archive.read("captions.txt").decode()

    # Public on request.
    [message] = await exported(discord_api, "Dragon Tale", "strip", "png", public=True)
    assert not message.ephemeral


async def test_stories_are_refused_past_their_limits(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    await start_bot(
        database_url=database_url,
        user_cooldown_seconds=0,
        user_max_stories=1,
        story_max_panels=1,
    )
    await said(await story(discord_api, "new", name="One"))
    text = await said(await story(discord_api, "new", name="Two"))
    assert text.startswith("You have 1 stories, the most one person may keep.")
    assert "already" in await said(await story(discord_api, "new", name="ONE"))
    text = await said(await story(discord_api, "new", name="Shared", shared=True))
    assert "needs the Manage Server permission" in text
    first = await delivered(await pose(discord_api, seed=1))
    second = await delivered(await pose(discord_api, seed=2))
    assert "panel 1" in await add(discord_api, first)
    assert await add(discord_api, second) == "“One” has 1 panels, the most a story may have."
    listed = await said(await story(discord_api, "list"))
    assert "▶ One: 1 panels" in listed


async def test_a_result_joins_a_story_while_its_post_is_still_being_confirmed(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 0.5
    await start_bot(database_url=database_url)
    await said(await story(discord_api, "new", name="One"))
    interaction = await pose(discord_api)
    await interaction.wait_for(lambda i: card_text(i).startswith("🎨"))
    # The card becomes the result, but Discord's answer is lost: the bot learns it was posted
    # only when it edits again a second later. Meanwhile its 📖 is there to press.
    discord_api.faults.fail_next("interaction_edit", "drop-after")
    result = await delivered(interaction)
    assert "panel 1" in await add(discord_api, result)
    assert discord_api.faults.count() == 1, "the result's own post was the one answered late"
    listed = await said(await story(discord_api, "list"))
    assert "▶ One: 1 panels" in listed


async def test_without_a_story_the_button_says_how_to_start_one_then_offers_a_choice(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot(user_cooldown_seconds=0)
    result = await delivered(await pose(discord_api))
    assert "Start one with `/story new" in await add(discord_api, result)
    # A story shared by someone else: not the presser's current one, so they choose.
    owner = discord_api.make_user(77, "owner")
    await said(
        await story(
            discord_api,
            "new",
            name="Ours",
            shared=True,
            user=owner,
            permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD,
        )
    )
    press = await discord_api.press(result, buttons(result)["Add to story"])
    [question] = [m for m in await _wait_messages(press)]
    [select] = [c for row in question.components for c in row["components"]]
    chosen = await discord_api.select(
        question, select["custom_id"], [select["options"][0]["value"]]
    )
    await chosen.wait_for(lambda i: bool(i.callbacks))
    await discord_api.wait_for(lambda: "panel 1" in (question.content or ""))
    [panel] = await bot.stories.panels((await bot.stories.find(77, GUILD, "ours")).id)
    assert panel.added_by == FakeDiscord.DEFAULT_USER_ID


async def _wait_messages(interaction: FakeInteraction) -> list[FakeMessage]:
    await interaction.wait_for(lambda i: i.original is not None, 20)
    assert interaction.original is not None
    return [interaction.original]


async def test_forget_me_deletes_the_users_stories(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url)
    await said(await story(discord_api, "new", name="Mine"))
    await add(discord_api, await delivered(await pose(discord_api)))
    asked = await discord_api.invoke("forget-me")
    await asked.wait_for(lambda i: i.original is not None and bool(i.original.components))
    assert asked.original is not None
    [confirm, _] = [c for row in asked.original.components for c in row["components"]]
    await discord_api.press(asked.original, confirm["custom_id"])
    await discord_api.wait_for(lambda: "stories" in (asked.original.content or ""))
    assert "Your 1 stories are deleted too." in (asked.original.content or "")
    assert await bot.stories.usable(FakeDiscord.DEFAULT_USER_ID, GUILD) == []
    [row] = await bot.store.database.fetch("SELECT COUNT(*) AS n FROM images")
    assert int(row["n"]) == 0, "the panels' images went with the stories"


async def test_the_sweep_keeps_a_storys_images_and_frees_them_with_the_story(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    now = [1_000_000.0]
    bot: PoseBot = await start_bot(
        clock=lambda: now[0], database_url=database_url, image_retention_days=1
    )
    await said(await story(discord_api, "new", name="Kept"))
    result = await delivered(await pose(discord_api))
    await add(discord_api, result)
    now[0] += 3 * 86_400  # long past the images' window
    report = await bot.storage_keeper.sweep()
    assert report is not None and report.expired_jobs == 1
    [panel] = await bot.stories.panels(
        (await bot.stories.find(FakeDiscord.DEFAULT_USER_ID, GUILD, "kept")).id
    )
    image = await bot.stories.image(panel.image_sha256)
    assert image is not None and image.data == result_image(result), "the panel's image stays"
    figures = await bot.storage_keeper.figures()
    assert figures.by_kind["story"] == len(image.data)

    delete = await story(discord_api, "delete", story="Kept")
    await delete.wait_for(lambda i: i.original is not None and bool(i.original.components))
    assert delete.original is not None
    [confirm, _] = [c for row in delete.original.components for c in row["components"]]
    await discord_api.press(delete.original, confirm["custom_id"])
    await discord_api.wait_for(lambda: "Deleted “Kept”" in (delete.original.content or ""))
    assert await bot.stories.image(panel.image_sha256) is None, "freed with the story"


async def test_story_add_makes_a_panel_of_the_storys_last_character_once_delivered(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=0)
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Mira", "red scarf")
    await said(await story(discord_api, "new", name="Mira's Day"))
    first = await delivered(
        await discord_api.invoke(
            "pose",
            [
                {"name": "prompt", "type": 3, "value": "waking up"},
                {"name": "saved", "type": 3, "value": "Mira"},
            ],
        )
    )
    await add(discord_api, first)

    # No character given: the story's last panel's, Mira; the same checks and card as /pose.
    added = await story(discord_api, "add", story="Mira's Day", prompt="eating breakfast")
    second = await delivered(added)
    assert segmind.submits[-1].body["prompt"].startswith("red scarf"), "Mira's look first"
    await settled(
        bot, (await bot.stories.find(FakeDiscord.DEFAULT_USER_ID, GUILD, "mira's day")).id
    )
    board = await private_reply(await story(discord_api, "show", story="mira's day"))
    assert len(board.embeds) == 2, "the delivered request is the story's second panel"
    [_, panel] = await bot.stories.panels(
        (await bot.stories.find(FakeDiscord.DEFAULT_USER_ID, GUILD, "mira's day")).id
    )
    assert (await bot.stories.image(panel.image_sha256)).data == result_image(second)
    assert len(segmind.submits) == 2, "one generation each, nothing paid again"


async def test_redo_rerolls_a_panel_and_the_result_takes_its_place(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=0)
    await said(await story(discord_api, "new", name="Again"))
    first = await delivered(await pose(discord_api, seed=5))
    second = await delivered(await pose(discord_api, seed=6))
    await add(discord_api, first)
    await add(discord_api, second)
    board = await private_reply(await story(discord_api, "show", story="Again"))
    await discord_api.wait_for(lambda: board.embeds and len(board.embeds) == 2)
    cards = await discord_api.press(board, story_button(board, "caption", 1))
    await cards.wait_for(lambda i: i.modal is not None)
    await discord_api.submit_modal(cards, {"caption": "Morning."})
    await discord_api.wait_for(lambda: board.embeds[0]["description"] == "Morning.")

    redo = await discord_api.press(board, story_button(board, "redo", 1))
    again = await delivered(redo)
    assert segmind.submits[-1].body["seed"] != 5, "a Reroll: a new seed"
    assert len(segmind.submits) == 3

    story_id = (await bot.stories.find(FakeDiscord.DEFAULT_USER_ID, GUILD, "again")).id
    await settled(bot, story_id)
    panels = await bot.stories.panels(story_id)
    assert [p.caption for p in panels] == ["Morning.", ""], "in place, its caption kept"
    images = [(await bot.stories.image(p.image_sha256)).data for p in panels]
    assert images == [result_image(again), result_image(second)]
