"""Confirm / Cancel under a private question, for a step that cannot be undone."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord

from bot.domain.errors import UserError
from bot.ui import views
from bot.ui.i18n import locale_of, tr
from bot.ui.replies import NO_MENTIONS, report_unexpected, send_private, user_text

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECONDS = 60.0


class Confirm(views.View):
    """Confirm / Cancel under a private question; only the asker may answer. On Confirm the
    action runs and its answer replaces the question."""

    def __init__(
        self,
        origin: discord.Interaction,
        action: Callable[[], Awaitable[str]],
        *,
        working: str,
        cancelled: str,
        expired: str,
    ) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT_SECONDS)
        locale = locale_of(origin)
        self.confirm.label = tr(locale, "Confirm")
        self.cancel.label = tr(locale, "Cancel")
        self.origin = origin
        self.action = action
        self.working = working
        self.cancelled = cancelled
        self.expired = expired
        self.answered = False

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.origin.user.id:
            await send_private(
                interaction,
                tr(locale_of(interaction), "Only the person who asked can answer this."),
            )
            return False
        return True

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if self._answer():
            await interaction.response.defer()
            return
        # The buttons go at once, so that a second click cannot run the action twice.
        await interaction.response.edit_message(
            content=self.working, view=None, allowed_mentions=NO_MENTIONS
        )
        try:
            text = await self.action()
        except UserError as error:
            text = user_text(locale_of(self.origin), error)
        except Exception as error:
            command = self.origin.command
            text = report_unexpected(
                error, f"/{command.qualified_name if command else '?'}", locale_of(self.origin)
            )
        await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if self._answer():
            await interaction.response.defer()
            return
        await interaction.response.edit_message(
            content=self.cancelled, view=None, allowed_mentions=NO_MENTIONS
        )

    def _answer(self) -> bool:
        """Take the answer; True if it was taken already."""
        answered, self.answered = self.answered, True
        self.stop()
        return answered

    async def on_timeout(self) -> None:
        if self.answered:
            return
        try:
            await self.origin.edit_original_response(
                content=self.expired, view=None, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as error:
            log.debug("could not mark a question as expired: %s", error)
