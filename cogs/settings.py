"""/settings: each user's own defaults for /pose, in one private message."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.ui.i18n import named
from bot.ui.replies import NO_MENTIONS
from bot.ui.settings_panel import SettingsPanel

if TYPE_CHECKING:
    from bot.posebot import PoseBot


class SettingsCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=named("command", "settings"),
        description=locale_str(
            "Your defaults for /pose: size, steps, guidance, negative prompt, a character."
        ),
    )
    @app_commands.guild_only()
    async def settings(self, interaction: discord.Interaction) -> None:
        """Your defaults for /pose: size, steps, guidance, negative prompt, a character."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = interaction.user.id
        defaults = await self.bot.user_settings.get(user_id)
        characters = await self.bot.characters.usable(user_id, interaction.guild_id)
        panel = SettingsPanel(self.bot, interaction, defaults, characters)
        await interaction.followup.send(
            panel.content(), view=panel, ephemeral=True, allowed_mentions=NO_MENTIONS
        )


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(SettingsCog(bot))
