"""The command tree's error hook: every failure in a command becomes one short private reply."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.ui.replies import answer_error, send_private


class PoseTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.NoPrivateMessage):
            message = "This command works in a server channel, not in direct messages."
        elif isinstance(error, app_commands.BotMissingPermissions):
            missing = ", ".join(error.missing_permissions).replace("_", " ")
            message = f"I am missing permissions in this channel: {missing}."
        elif isinstance(error, app_commands.TransformerError):
            message = f"That value is not valid: {error.value!r}."
        elif isinstance(error, app_commands.CheckFailure):
            message = "You cannot use this command here."
        else:
            await answer_error(interaction, getattr(error, "original", error))
            return
        await send_private(interaction, message)
