"""Commands for the bot's owner: resume generation after a pause."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies import send_private

if TYPE_CHECKING:
    from bot.posebot import PoseBot


class AdminCog(commands.Cog):
    admin = app_commands.Group(
        name="admin",
        description="Running the bot",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @admin.command(name="resume")
    async def resume(self, interaction: discord.Interaction) -> None:
        """Resume generation after a pause (the bot's owner only)."""
        # Checked by id, not by permission: server admins must not resume what costs the owner.
        if not await self.bot.is_owner(interaction.user):
            await send_private(interaction, "Only the bot's owner can do this.")
            return
        runner = self.bot.runner
        if runner.paused is None:
            await send_private(interaction, "Generation is not paused.")
            return
        waiting = runner.resume()
        await send_private(interaction, f"Resumed: {waiting} waiting request(s) will run now.")


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(AdminCog(bot))
