"""/sheet as a user meets it: the preview and its cost, Confirm, all or nothing, fair turns,
a failed panel made again alone, and the composed sheet posted in the channel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from PIL import Image

from bot.posebot import PoseBot
from bot.ui.story_pages import GUTTER, MARGIN, MISSING, SHEET_ART, TITLE_BAND, sheet_size
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import accepted, decode, delivered, pose, save_character

JSON = dict[str, Any]
LOOK = "a girl with red hair and a green coat"


async def sheet(
    discord_api: FakeDiscord, kind: str, *, user: JSON | None = None, name: str = "Aria"
) -> FakeInteraction:
    return await discord_api.invoke(
        "sheet",
        [
            {"name": "character", "type": 3, "value": name},
            {"name": "kind", "type": 3, "value": kind},
        ],
        user=user,
    )


async def preview(interaction: FakeInteraction) -> FakeMessage:
    await interaction.wait_for(lambda i: any(m.ephemeral and m.content for m in i.messages()))
    [message] = [m for m in interaction.messages() if m.ephemeral and m.content]
    return message


def buttons(message: FakeMessage) -> Iterator[JSON]:
    for row in message.components:
        yield from row.get("components", [])


async def press(discord_api: FakeDiscord, message: FakeMessage, label: str) -> FakeInteraction:
    found = next((b for b in buttons(message) if b.get("label") == label), None)
    assert found is not None, f"no {label} button on {message!r}"
    return await discord_api.press(message, found["custom_id"])


async def posted_sheets(discord_api: FakeDiscord, count: int = 1) -> list[FakeMessage]:
    """The sheets posted in the channel (messages with a file and "sheet" in their text)."""

    def sheets() -> list[FakeMessage]:
        return [
            m
            for m in discord_api.channel_messages
            if m.channel_id == FakeDiscord.CHANNEL_ID and m.files and "sheet" in (m.content or "")
        ]

    await discord_api.wait_for(lambda: len(sheets()) >= count, timeout=30)
    return sheets()


def panel_pixel(image: Image.Image, count: int, number: int) -> tuple[int, ...]:
    """A pixel near the top-left corner of panel `number` (from 1): the art's background."""
    columns = count if count <= 4 else (count + 1) // 2
    row, column = divmod(number - 1, columns)
    left = MARGIN + column * (SHEET_ART + GUTTER)
    top = MARGIN + TITLE_BAND + row * (SHEET_ART + 56 + GUTTER)
    return image.convert("RGB").getpixel((left + 12, top + 12))


def seed_colour(seed: int) -> tuple[int, int, int]:
    rgb = seed % 0x1000000
    return (rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF)


def close(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(abs(x - y) <= 12 for x, y in zip(a, b, strict=True))


async def test_a_sheet_is_previewed_with_its_cost_then_confirmed_and_posted(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot: PoseBot = await start_bot(database_url=database_url, user_daily_limit=10)
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria", LOOK)

    question = await preview(await sheet(discord_api, "turnaround"))
    text = question.content or ""
    assert "4 generations" in text and "$2.32" in text, text
    assert "Your daily limit: 0 of 10 used" in text, text
    assert segmind.submits == []  # a preview costs nothing

    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: "Started" in (question.content or ""))
    [posted] = await posted_sheets(discord_api)

    prompts = [submit.body["prompt"] for submit in segmind.submits]
    assert len(prompts) == 4 and segmind.billed == 4
    assert all(prompt.startswith(LOOK) for prompt in prompts), prompts
    assert all("full body, plain background" in prompt for prompt in prompts)
    assert ["front" in p for p in prompts] == [True, False, False, False]
    assert "back view" in prompts[3]
    [seed] = {submit.body["seed"] for submit in segmind.submits}  # one seed for all

    [(_, data, _)] = posted.files
    image = decode(data)
    assert image.size == sheet_size(4)
    for number in range(1, 5):
        assert close(panel_pixel(image, 4, number), seed_colour(seed)), number

    # The panels also form a story named after the character and the kind.
    story = await bot.stories.find(
        FakeDiscord.DEFAULT_USER_ID, FakeDiscord.GUILD_ID, "Aria turnaround"
    )
    assert story is not None
    captions = [panel.caption for panel in await bot.stories.panels(story.id)]
    assert captions == ["front", "three-quarter", "side", "back"]


async def test_a_sheet_that_does_not_fit_the_limit_is_not_offered_and_nothing_is_paid(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot: PoseBot = await start_bot(database_url=database_url, user_daily_limit=5)
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria", LOOK)

    question = await preview(await sheet(discord_api, "expressions"))
    text = question.content or ""
    assert "6 generations" in text and "only 5 are left" in text, text
    assert question.components == []  # no Confirm: nothing can be started
    assert segmind.submits == []


async def test_confirm_reserves_all_panels_or_none(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    """Room for 6 when previewed, for 5 when confirmed (a /pose in between): nothing of the
    sheet is started, not 5 of its 6 panels."""
    bot: PoseBot = await start_bot(
        database_url=database_url, user_daily_limit=6, user_cooldown_seconds=0
    )
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria", LOOK)
    question = await preview(await sheet(discord_api, "actions"))
    assert "6 generations" in (question.content or "")

    single = await pose(discord_api, prompt="just one")
    await delivered(single)
    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: "nothing was started" in (question.content or ""))
    assert "only 5 are left" in (question.content or "")
    assert [submit.body["prompt"] for submit in segmind.submits] == ["just one"]
    jobs = await bot.store.database.fetch("SELECT id FROM jobs WHERE sheet_id IS NOT NULL")
    assert jobs == []


async def test_a_sheet_never_holds_back_another_users_pose_by_more_than_one_generation(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 0.4
    bot: PoseBot = await start_bot(
        database_url=database_url, segmind_max_concurrency=1, segmind_rpm=600
    )
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria", LOOK)
    question = await preview(await sheet(discord_api, "expressions"))
    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: "Started" in (question.content or ""))

    other = discord_api.make_user(4242, "other")
    single = await pose(discord_api, user=other, prompt="the other user's pose")
    await accepted(single)
    await delivered(single, timeout=30)
    await posted_sheets(discord_api)
    prompts = [submit.body["prompt"] for submit in segmind.submits]
    assert len(prompts) == 7
    assert prompts.index("the other user's pose") <= 1, prompts


async def test_a_failed_panel_is_shown_missing_and_redone_alone(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot: PoseBot = await start_bot(
        database_url=database_url, segmind_max_concurrency=1, user_cooldown_seconds=0
    )
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria", LOOK)
    segmind.faults.append(Fault.error(400, "the model refused this prompt"))  # the front view
    question = await preview(await sheet(discord_api, "turnaround"))
    await press(discord_api, question, "Confirm")

    [first] = await posted_sheets(discord_api)
    assert segmind.billed == 3
    assert "Missing panels: 1." in (first.content or "")
    image = decode(first.files[0][1])
    assert close(panel_pixel(image, 4, 1), MISSING)
    assert not close(panel_pixel(image, 4, 2), MISSING)
    redo = [b for b in buttons(first) if "front" in (b.get("label") or "")]
    assert len(redo) == 1 and len(list(buttons(first))) == 1

    await discord_api.press(first, redo[0]["custom_id"])
    sheets = await posted_sheets(discord_api, 2)
    assert segmind.billed == 4  # the front view alone, paid once more
    prompts = [submit.body["prompt"] for submit in segmind.submits]
    assert len(prompts) == 5 and "front view" in prompts[-1]
    image = decode(sheets[-1].files[0][1])
    for number in range(1, 5):
        assert not close(panel_pixel(image, 4, number), MISSING), number
    assert sheets[-1].components == []
    story = await bot.stories.find(
        FakeDiscord.DEFAULT_USER_ID, FakeDiscord.GUILD_ID, "Aria turnaround"
    )
    assert story is not None
    captions = [panel.caption for panel in await bot.stories.panels(story.id)]
    assert captions == ["front", "three-quarter", "side", "back"], "the redone panel in its place"


async def test_a_restart_in_the_middle_of_a_sheet_still_ends_with_it_posted(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    segmind.latency = 0.3
    bot: PoseBot = await start_bot(database_url=database_url, segmind_max_concurrency=1)
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria", LOOK)
    question = await preview(await sheet(discord_api, "turnaround"))
    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: segmind.billed >= 1, timeout=20)

    await asyncio.wait_for(bot.shutdown(grace=5), timeout=15)
    assert segmind.billed < 4, "the sheet was done before the restart: nothing was tested"
    await start_bot(database_url=database_url, segmind_max_concurrency=1)
    [posted] = await posted_sheets(discord_api)
    assert segmind.billed == 4  # no panel paid twice
    image = decode(posted.files[0][1])
    for number in range(1, 5):
        assert not close(panel_pixel(image, 4, number), MISSING), number


async def test_cancel_or_an_unknown_character_starts_nothing(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot: PoseBot = await start_bot()
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria", LOOK)
    unknown = await preview(await sheet(discord_api, "actions", name="Nobody"))
    assert (unknown.content or "").startswith("You have no character called “Nobody”")

    question = await preview(await sheet(discord_api, "actions"))
    await press(discord_api, question, "Cancel")
    await discord_api.wait_for(lambda: (question.content or "").startswith("Cancelled"))
    assert question.components == []
    assert segmind.submits == []
    assert await bot.store.database.fetch("SELECT id FROM jobs") == []
