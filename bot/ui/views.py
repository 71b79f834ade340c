"""Views, forms and persistent buttons whose failures are answered as a command's are.

discord.py only logs what fails in a view's or a modal's callback (unless `on_error` is
overridden), and 2.7 only logs a failing `DynamicItem` callback, with no hook at all
(`ViewStore.schedule_dynamic_item_call`): the user would see "This interaction failed".
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord

from bot.ui.replies import answer_error

ItemT = TypeVar("ItemT", bound=discord.ui.Item[Any])


class View(discord.ui.View):
    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await answer_error(interaction, error)


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
