"""A character's sheet kept as a story too, named after the character and the kind: its
delivered panels in the sheet's order, each captioned with its label, so that the sheet can be
exported and rearranged like any story (/story)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.domain.sheets import VIEWS
from bot.domain.stories import MAX_NAME_LENGTH, Story, StoryError
from bot.storage.sheet_store import Sheet, SheetPanel
from bot.ui.i18n import tr

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

# "Aria turnaround", then "Aria turnaround 2"… when the requester has a story of that name.
NAME_TRIES = 9


def story_name(character: str, kind: str, attempt: int) -> str:
    suffix = f" {kind}" + (f" {attempt}" if attempt > 1 else "")
    return character[: MAX_NAME_LENGTH - len(suffix)].rstrip() + suffix


async def file_in_story(bot: PoseBot, sheet: Sheet, panels: list[SheetPanel]) -> Story | None:
    """Add the sheet's delivered panels that its story lacks, each in its place; the story is
    made the first time. None when it cannot be (the requester keeps the most stories)."""
    story = await bot.stories.get(sheet.story_id) if sheet.story_id is not None else None
    if story is None:
        story = await _new_story(bot, sheet)
        if story is None:
            return None
    place = {panel.job_id: panel.position for panel in panels}
    shown = {p.job_id for p in await bot.stories.panels(story.id)}
    for panel in panels:
        if panel.image is None or panel.job_id in shown:
            continue
        try:
            added = await bot.stories.add_result(
                story, panel.job_id, sheet.requester_id, bot.clock()
            )
        except StoryError as error:
            log.info(
                "sheet %s: panel %s not added to story %s: %s",
                sheet.id,
                panel.position,
                story.id,
                error,
            )
            continue
        label = tr(sheet.guild_locale, VIEWS[sheet.kind][panel.position].label)
        await bot.stories.set_caption(added.id, label)
        # A redone panel comes last: it moves before every panel that follows it on the sheet.
        later = [
            p
            for p in await bot.stories.panels(story.id)
            if place.get(p.job_id, -1) > panel.position
        ]
        for _ in later:
            await bot.stories.move(added, -1)
        shown.add(panel.job_id)
    return story


async def _new_story(bot: PoseBot, sheet: Sheet) -> Story | None:
    for attempt in range(1, NAME_TRIES + 1):
        name = story_name(sheet.character_name, sheet.kind.value, attempt)
        try:
            story = await bot.stories.create(
                owner_id=sheet.requester_id,
                guild_id=sheet.guild_id,
                name=name,
                shared=False,
                now=bot.clock(),
            )
        except StoryError as error:
            if await bot.stories.find(sheet.requester_id, sheet.guild_id, name) is not None:
                continue  # a story of that name is theirs already: the next name
            log.info("sheet %s: no story made: %s", sheet.id, error)
            return None
        await bot.sheets.set_story(sheet.id, story.id)
        return story
    return None
