"""/status: the bot's health, privately, for a server's admins (this server) and for the
bot's owner (everything)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.ui.i18n import locale_of, named, tr
from bot.ui.replies import send_private
from bot.ui.status_report import Viewer, status_report

if TYPE_CHECKING:
    from bot.posebot import PoseBot


class StatusCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=named("command", "status"),
        description=locale_str(
            "The bot's health: processes, queue, failures, spend, permissions (admins only)."
        ),
    )
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, interaction: discord.Interaction) -> None:
        locale = locale_of(interaction)
        owner = await self.bot.is_owner(interaction.user)
        admin = interaction.guild_id is not None and interaction.permissions.manage_guild
        if not owner and not admin:
            await send_private(interaction, tr(locale, "This needs the Manage Server permission."))
            return
        # Reading the channels over REST may take longer than Discord's three seconds.
        await interaction.response.defer(ephemeral=True, thinking=True)
        text, files = await status_report(
            self.bot, Viewer(locale, interaction.guild_id, owner=owner)
        )
        await send_private(interaction, text, files=files)


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(StatusCog(bot))
