"""`/sheet`: a saved character's model sheet (turnaround, expressions or actions).

Commands only: the preview, the Confirm and the panels' jobs are bot/ui/sheet_request.py's; the
sheet is posted by bot/ui/sheet_posting.py once every panel has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.domain.pose_defaults import resolve_options
from bot.domain.sheets import KIND_NAMES, Kind, panel_prompt
from bot.ui.character_choice import character_named, character_names
from bot.ui.i18n import locale_of, named
from bot.ui.replies import NO_MENTIONS, send_private
from bot.ui.sheet_request import preview

if TYPE_CHECKING:
    from bot.posebot import PoseBot

KIND_OPTIONS = [
    app_commands.Choice(name=locale_str(KIND_NAMES[kind]), value=kind.value) for kind in Kind
]


class SheetCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=named("command", "sheet"),
        description=locale_str("A model sheet of a saved character: views, expressions or actions"),
    )
    @app_commands.guild_only()
    @app_commands.describe(
        character=locale_str("A character from your library"),
        kind=locale_str("Which panels: a turnaround, six expressions or six actions"),
    )
    @app_commands.choices(kind=KIND_OPTIONS)
    @app_commands.autocomplete(character=character_names)
    @app_commands.rename(character=named("command", "character"), kind=named("command", "kind"))
    async def sheet(
        self,
        interaction: discord.Interaction,
        character: str,
        kind: app_commands.Choice[str],
    ) -> None:
        bot = self.bot
        refusal = await bot.intake.refusal(interaction.user.id, locale_of(interaction))
        if refusal is not None:
            await send_private(interaction, refusal)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await character_named(bot, interaction, character)
        sheet_kind = Kind(kind.value)
        server = await bot.servers.get(interaction.guild_id) if interaction.guild_id else None
        if server is not None:
            # The server's rules (on, its channels, its words, a cap with room) before the
            # preview: a sheet that could not start is not offered.
            defaults = await bot.user_settings.get(interaction.user.id)
            first = resolve_options(defaults, prompt=panel_prompt(found.description, sheet_kind, 0))
            await bot.intake.server_rules_applied(interaction, server, first)
        text, view = await preview(bot, interaction, found, sheet_kind)
        if view is None:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.followup.send(
                text, view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
            )


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(SheetCog(bot))
