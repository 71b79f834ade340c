"""/history: your recent results, with their Reroll and New pose buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.ui.character_choice import character_names, find_character
from bot.ui.history_pages import HistoryPages
from bot.ui.i18n import named, tr
from bot.ui.replies import NO_MENTIONS, send_private

if TYPE_CHECKING:
    from bot.posebot import PoseBot


class HistoryCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=named("command", "history"),
        description=locale_str("Your recent results, newest first, to reroll or pose anew."),
    )
    @app_commands.guild_only()
    @app_commands.describe(character=locale_str("Only the results made from this saved character"))
    @app_commands.autocomplete(character=character_names)
    @app_commands.rename(character=named("command", "character"))
    async def history(self, interaction: discord.Interaction, character: str | None = None) -> None:
        """Your recent results, newest first, to reroll or pose anew."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = interaction.user.id
        character_id = name = None
        if character is not None:
            found = await find_character(self.bot, interaction, character)
            if found is None:
                return
            character_id, name = found.id, found.name
        total = await self.bot.history.count(user_id, character_id)
        if total == 0:
            if name is None:
                text = tr(interaction.locale, "You have no results yet: make one with `/pose`.")
            else:
                text = tr(
                    interaction.locale,
                    "You have no results made from “{name}” yet.",
                    name=name,
                )
            await send_private(interaction, text)
            return
        pages = HistoryPages(
            self.bot, interaction, total, character_id=character_id, character_name=name
        )
        page = await pages.render()
        await interaction.followup.send(
            page["content"],
            embeds=page["embeds"],
            files=page["files"],
            view=pages,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(HistoryCog(bot))
