"""Choosing a story by name: the autocomplete of every story option, and the lookup that tells
the user when no such story is theirs or shared here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.domain.stories import Story, StoryError
from bot.ui.character_choice import name_choices, quoted
from bot.ui.i18n import mark

if TYPE_CHECKING:
    from bot.posebot import PoseBot


async def story_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete for a story option: the user's own stories first, then those shared in
    this server."""
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    usable = await bot.stories.usable(interaction.user.id, interaction.guild_id)
    return name_choices(interaction, current, usable)


async def story_named(bot: PoseBot, interaction: discord.Interaction, name: str) -> Story:
    """The story `name` means for this user; StoryError, for them, if there is none."""
    found = await bot.stories.find(interaction.user.id, interaction.guild_id, name)
    if found is None:
        raise StoryError(
            mark(
                "You have no story called {name}, and none by that name is shared in this "
                "server. `/story list` shows the ones you can use."
            ),
            name=quoted(name),
        )
    return found
