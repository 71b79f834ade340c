"""The command tree's error hook: every failure in a command becomes one short private reply."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.ui.i18n import locale_of, tr
from bot.ui.replies import answer_error, send_private


class PoseTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        locale = locale_of(interaction)
        if isinstance(error, app_commands.NoPrivateMessage):
            message = tr(locale, "This command works in a server channel, not in direct messages.")
        elif isinstance(error, app_commands.BotMissingPermissions):
            missing = ", ".join(error.missing_permissions).replace("_", " ")
            message = tr(
                locale, "I am missing permissions in this channel: {missing}.", missing=missing
            )
        elif isinstance(error, app_commands.TransformerError):
            message = tr(locale, "That value is not valid: {value}.", value=repr(error.value))
        elif isinstance(error, app_commands.CheckFailure):
            message = tr(locale, "You cannot use this command here.")
        else:
            await answer_error(interaction, getattr(error, "original", error))
            return
        await send_private(interaction, message)
