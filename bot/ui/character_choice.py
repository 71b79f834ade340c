"""Choosing a saved character by name: the autocomplete of every character option, and the
lookup that tells the user privately when no such character is theirs or shared here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.domain.characters import Character, name_key
from bot.domain.pose_request import InvalidRequest
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.replies import send_private, user_text

if TYPE_CHECKING:
    from bot.posebot import PoseBot

MAX_CHOICES = 25  # Discord's limit for autocomplete


async def character_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Autocomplete for a character option: the names this user may use, their own first,
    then the ones shared in this server, filtered by what was typed (case does not count)."""
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    typed = name_key(current)
    user_id = interaction.user.id
    choices: list[app_commands.Choice[str]] = []
    for character in await bot.characters.usable(user_id, interaction.guild_id):
        if typed not in name_key(character.name):
            continue
        label = character.name
        if character.owner_id != user_id:
            label = tr(locale_of(interaction), "{name} (shared)", name=character.name)
        choices.append(app_commands.Choice(name=label, value=character.name))
        if len(choices) == MAX_CHOICES:
            break
    return choices


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
