"""A private answer in pages: Previous / Next for the asker alone, the page drawn anew on each
turn. /character list and /history are two of them."""

from __future__ import annotations

from typing import Any

import discord

from bot.ui.i18n import locale_of, tr
from bot.ui.replies import NO_MENTIONS
from bot.ui.views import PrivatePanel


class PagedPanel(PrivatePanel):
    """Subclasses say how many pages there are and `render` the current one as message fields
    (content, embeds, files)."""

    def __init__(self, origin: discord.Interaction, pages: int) -> None:
        super().__init__(origin)
        self.page = 0
        self.pages = max(1, pages)
        locale = locale_of(origin)
        self.previous_page.label = tr(locale, "Previous")
        self.next_page.label = tr(locale, "Next")
        self.update_buttons()

    async def render(self) -> dict[str, Any]:
        raise NotImplementedError

    def update_buttons(self) -> None:
        self.previous_page.disabled = self.page == 0
        self.next_page.disabled = self.page >= self.pages - 1

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary, row=4)
    async def previous_page(
        self, interaction: discord.Interaction, button: discord.ui.Button
    ) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary, row=4)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, 1)

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        await interaction.response.defer()  # a page of thumbnails may take a moment
        self.page = max(0, min(self.pages - 1, self.page + step))
        self.update_buttons()
        page = await self.render()
        await interaction.edit_original_response(
            content=page["content"],
            embeds=page["embeds"],
            attachments=page["files"],
            view=self,
            allowed_mentions=NO_MENTIONS,
        )
