"""Choosing a saved character by name: the autocomplete of every character option, and the
lookup that tells the user privately when no such character is theirs or shared here."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import discord
from discord import app_commands

from bot.domain.characters import Character, name_key
from bot.domain.pose_request import InvalidRequest
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.replies import send_private, user_text

if TYPE_CHECKING:
    from bot.posebot import PoseBot

MAX_CHOICES = 25  # Discord's limit for autocomplete


class Owned(Protocol):
    """A named thing a user owns or that is shared with them: a character, a story."""

    name: str
    owner_id: int


def name_choices(
    interaction: discord.Interaction, current: str, usable: Iterable[Owned]
) -> list[app_commands.Choice[str]]:
    """Autocomplete choices from `usable` (the user's own first, then those shared in this
    server), filtered by what was typed (case does not count)."""
    typed = name_key(current)
    user_id = interaction.user.id
    choices: list[app_commands.Choice[str]] = []
    for thing in usable:
        if typed not in name_key(thing.name):
            continue
        label = thing.name
        if thing.owner_id != user_id:
            label = tr(locale_of(interaction), "{name} (shared)", name=thing.name)
        choices.append(app_commands.Choice(name=label, value=thing.name))
        if len(choices) == MAX_CHOICES:
            break
    return choices


async def character_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete for a character option: the names this user may use."""
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    usable = await bot.characters.usable(interaction.user.id, interaction.guild_id)
    return name_choices(interaction, current, usable)


async def find_character(
    bot: PoseBot, interaction: discord.Interaction, name: str
) -> Character | None:
    """The character `name` means for this user, or None after telling them so privately."""
    try:
        return await character_named(bot, interaction, name)
    except InvalidRequest as error:
        await send_private(interaction, user_text(locale_of(interaction), error))
        return None


async def character_named(bot: PoseBot, interaction: discord.Interaction, name: str) -> Character:
    """The character `name` means for this user; InvalidRequest, for them, if there is none."""
    found = await bot.characters.find(interaction.user.id, interaction.guild_id, name)
    if found is None:
        raise InvalidRequest(
            mark(
                "You have no character called {name}, and none by that name is shared in "
                "this server. `/character list` shows the ones you can use."
            ),
            name=quoted(name),
        )
    return found


def quoted(name: str) -> str:
    """A name the user typed, safe to echo: short, on one line."""
    name = " ".join(name.split())
    return f"“{name[:40]}…”" if len(name) > 40 else f"“{name}”"
