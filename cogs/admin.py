"""What generation costs and who controls it: /usage for everyone, /admin resume for the owner."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.replies import send_private

DAY_SECONDS = 24 * 60 * 60

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

    @app_commands.command(name="usage")
    async def usage(self, interaction: discord.Interaction) -> None:
        """Your generations and spend over the last 24 hours, and what is left today."""
        bot, settings = self.bot, self.bot.settings
        since = bot.clock() - DAY_SECONDS
        mine = await bot.store.spend_since(since, requester_id=interaction.user.id)
        left = max(0, settings.user_daily_limit - mine.generations)
        lines = [
            f"In the last 24 hours you made {_generations(mine.generations)} "
            f"(${mine.dollars:.2f}); {left} of your {settings.user_daily_limit} are left."
        ]
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            top = await bot.store.top_spenders(since, interaction.guild_id)
            total = sum(float(row["dollars"]) for row in top)
            lines.append(f"This server's top users (${total:.2f} between them):")
            lines += [
                f"- <@{row['requester_id']}>: {_generations(int(row['generations']))}, "
                f"${float(row['dollars']):.2f}"
                for row in top
            ]
        if await bot.is_owner(interaction.user):
            everyone = await bot.store.spend_since(since)
            budget = settings.daily_budget_usd
            of_budget = f" of the ${budget:.2f} daily budget" if budget is not None else ""
            lines.append(
                f"Everyone: {_generations(everyone.generations)}, "
                f"${everyone.dollars:.2f}{of_budget}."
            )
            if bot.runner.paused:
                lines.append(f"⏸️ Generation is paused: {bot.runner.paused}.")
        await send_private(interaction, "\n".join(lines))

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


def _generations(count: int) -> str:
    return f"{count} generation" if count == 1 else f"{count} generations"


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(AdminCog(bot))
