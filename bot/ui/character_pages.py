"""A saved character as an embed, and /character list's pages of them."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.characters import Character
from bot.domain.images import reworking_cost, thumbnail
from bot.ui.files import file_name, image_file
from bot.ui.i18n import locale_of, tr
from bot.ui.pages import PagedPanel

if TYPE_CHECKING:
    from bot.posebot import PoseBot

# Discord allows 10 embeds and 10 files in one message: one page of the list.
PAGE_SIZE = 10


def character_embed(character: Character, viewer_id: int, locale: discord.Locale) -> discord.Embed:
    """A character as its owner and others see it: name, look, owner, whether shared."""
    embed = discord.Embed(
        title=character.name,
        description=character.description or None,
        colour=discord.Colour.blurple(),
    )
    owner = tr(locale, "you") if character.owner_id == viewer_id else f"<@{character.owner_id}>"
    embed.add_field(name=tr(locale, "Owner"), value=owner)
    if character.shared:
        shared = tr(locale, "Yes: everyone in its server can pose it")
    else:
        shared = tr(locale, "No: only its owner can pose it")
    embed.add_field(name=tr(locale, "Shared"), value=shared)
    return embed


class CharacterPages(PagedPanel):
    """The character list, PAGE_SIZE to a page, with Previous / Next for the asker."""

    def __init__(
        self, bot: PoseBot, origin: discord.Interaction, characters: list[Character]
    ) -> None:
        super().__init__(origin, math.ceil(len(characters) / PAGE_SIZE))
        self.bot = bot
        self.characters = characters
        self.locale = locale_of(origin)

    async def render(self) -> dict[str, Any]:
        """The current page as message fields: text, one embed and one thumbnail each."""
        start = self.page * PAGE_SIZE
        shown = []
        for summary in self.characters[start : start + PAGE_SIZE]:
            character = await self.bot.characters.get(summary.id)
            if character is not None:  # deleted since the list was made
                shown.append(character)
        # One after another: the largest of them is what they hold at once.
        cost = max((reworking_cost(c.image) for c in shown), default=0)
        async with self.bot.memory.reserve_checked(cost):
            small = await asyncio.to_thread(lambda: [thumbnail(c.image) for c in shown])
        embeds, files = [], []
        for character, image in zip(shown, small, strict=True):
            filename = file_name(f"thumbnail-{character.id}", image)
            embed = character_embed(character, self.origin.user.id, self.locale)
            embed.set_thumbnail(url=f"attachment://{filename}")
            embeds.append(embed)
            files.append(image_file(image, filename))
        count = len(self.characters)
        content = tr(
            self.locale,
            "**Characters you can pose** ({count}; page {page} of {pages}). "
            "`/character show` shows one in full.",
            count=count,
            page=self.page + 1,
            pages=self.pages,
        )
        return {"content": content, "embeds": embeds, "files": files}
