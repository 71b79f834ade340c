"""Views, forms and persistent buttons whose failures are answered as a command's are.

discord.py only logs what fails in a view's or a modal's callback (unless `on_error` is
overridden), and 2.7 only logs a failing `DynamicItem` callback, with no hook at all
(`ViewStore.schedule_dynamic_item_call`): the user would see "This interaction failed".
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from bot.ui.i18n import tr
from bot.ui.replies import answer_error, send_private

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT", bound=discord.ui.Item[Any])


class View(discord.ui.View):
    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await answer_error(interaction, error)


class PrivatePanel(View):
    """The controls of a private answer, for the user who asked alone. They go a little before
    the answer's interaction token ends (15 minutes), since only it can edit a private message."""

    TIMEOUT_SECONDS = 14 * 60

    def __init__(self, origin: discord.Interaction) -> None:
        super().__init__(timeout=self.TIMEOUT_SECONDS)
        self.origin = origin

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.origin.user.id:
            await send_private(
                interaction, tr(interaction.locale, "These controls are for the person who asked.")
            )
            return False
        return True

    async def on_timeout(self) -> None:
        try:
            await self.origin.edit_original_response(view=None)
        except discord.HTTPException as error:
            log.debug("could not remove the controls of a private answer: %s", error)


class Modal(discord.ui.Modal):
    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await answer_error(interaction, error)


def answer_errors(
    callback: Callable[[ItemT, discord.Interaction], Awaitable[None]],
) -> Callable[[ItemT, discord.Interaction], Awaitable[None]]:
    """For a DynamicItem's `callback`: whatever it raises is answered, not just logged."""

    @functools.wraps(callback)
    async def answered(item: ItemT, interaction: discord.Interaction) -> None:
        try:
            await callback(item, interaction)
        except Exception as error:
            await answer_error(interaction, error)

    return answered
