"""The character library in Discord (/character save, list, show, rename, delete) and /forget-me.

Everything here is about the user's own data, so every answer is private. Deleting asks first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.domain.characters import (
    MAX_DESCRIPTION_LENGTH,
    Character,
    CharacterError,
    check_name,
    check_words,
)
from bot.domain.images import (
    MAX_UPLOAD_BYTES,
    THE_IMAGE,
    TOO_BIG,
    ImageRejected,
    thumbnail,
)
from bot.ui.character_choice import character_names, find_character
from bot.ui.character_pages import CharacterPages, character_embed
from bot.ui.confirm import Confirm
from bot.ui.files import download_image, file_name, image_file
from bot.ui.forgetting import remove_results
from bot.ui.i18n import locale_of, mark, named, tr
from bot.ui.job_messages import remove_card
from bot.ui.replies import NO_MENTIONS, send_private, user_text

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)


def _may_change(character: Character, interaction: discord.Interaction, refusal: str) -> str | None:
    """Why this user may not rename or delete this character (`refusal`, with the name), or
    None if they may."""
    if character.owner_id == interaction.user.id:
        return None
    if character.shared and interaction.permissions.manage_guild:
        return None
    return tr(locale_of(interaction), refusal, name=character.name)


class CharacterCog(commands.Cog):
    character = app_commands.Group(
        name=named("command", "character"),
        description=locale_str("Your saved characters, ready to pose"),
        guild_only=True,
    )

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @character.command(
        name=named("command", "save"),
        description=locale_str("Save a character to pose again later: a name and an image of it."),
    )
    @app_commands.describe(
        name=locale_str("What to call it: letters, digits and spaces, at most 32 characters"),
        image=locale_str("An image of the character (PNG, JPEG, WEBP or GIF; at most 10 MiB)"),
        description=locale_str("How the character looks, in words"),
        shared=locale_str(
            "Let everyone in this server pose it (needs the Manage Server permission)"
        ),
    )
    @app_commands.rename(
        name=named("command", "name"),
        image=named("command", "image"),
        description=named("command", "description"),
        shared=named("command", "shared"),
    )
    async def save(
        self,
        interaction: discord.Interaction,
        name: str,
        image: discord.Attachment,
        description: app_commands.Range[str, 1, MAX_DESCRIPTION_LENGTH] | None = None,
        shared: bool = False,
    ) -> None:
        user_id = interaction.user.id
        locale = locale_of(interaction)
        try:
            # Everything that can be checked is checked before the image is downloaded.
            name = check_name(name)
            if shared and not interaction.permissions.manage_guild:
                raise CharacterError(
                    mark(
                        "Sharing a character with the server needs the Manage Server "
                        "permission. Save it without `shared` to keep it for yourself."
                    )
                )
            await self.bot.characters.check_room(user_id, name)
            if interaction.guild_id is not None:
                server = await self.bot.servers.get(interaction.guild_id)
                check_words(server.blocked_words, name, description or "")
            if image.size > MAX_UPLOAD_BYTES:
                raise ImageRejected(TOO_BIG, label=THE_IMAGE, size=f"{image.size / 2**20:.1f}")
        except (CharacterError, ImageRejected) as error:
            await send_private(interaction, user_text(locale, error))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            prepared = await download_image(
                image, THE_IMAGE, self.bot.memory, self.bot.http_session
            )
            character = await self.bot.characters.save(
                owner_id=user_id,
                guild_id=interaction.guild_id,
                name=name,
                description=description or "",
                shared=shared,
                image_format=prepared.format,
                width=prepared.width,
                height=prepared.height,
                data=prepared.data,
                now=self.bot.clock(),
            )
        except (CharacterError, ImageRejected) as error:
            await send_private(interaction, user_text(locale, error))
            return
        small = await asyncio.to_thread(thumbnail, prepared)
        filename = file_name(f"thumbnail-{character.id}", small)
        embed = character_embed(character, user_id, locale)
        embed.set_thumbnail(url=f"attachment://{filename}")
        if character.shared:
            saved = tr(
                locale,
                "Saved “{name}”: everyone in this server can pose it now.",
                name=character.name,
            )
        else:
            saved = tr(locale, "Saved “{name}”: you can pose it now.", name=character.name)
        await interaction.followup.send(
            saved,
            embed=embed,
            file=image_file(small, filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @character.command(
        name=named("command", "list"),
        description=locale_str(
            "List the characters you can pose: yours and the ones shared in this server."
        ),
    )
    async def list_characters(self, interaction: discord.Interaction) -> None:
        characters = await self.bot.characters.usable(interaction.user.id, interaction.guild_id)
        if not characters:
            await send_private(
                interaction,
                tr(
                    locale_of(interaction),
                    "You have no characters yet, and none are shared in this server. Save one "
                    "with `/character save`: give it a name and attach an image of it.",
                ),
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        pages = CharacterPages(self.bot, interaction, characters)
        page = await pages.render()
        extra = {"view": pages} if pages.pages > 1 else {}
        await interaction.followup.send(
            page["content"],
            embeds=page["embeds"],
            files=page["files"],
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
            **extra,
        )

    @character.command(
        name=named("command", "show"),
        description=locale_str("Show one of the characters you can pose, with its image."),
    )
    @app_commands.describe(name=locale_str("The character to show"))
    @app_commands.autocomplete(name=character_names)
    @app_commands.rename(name=named("command", "name"))
    async def show(self, interaction: discord.Interaction, name: str) -> None:
        character = await find_character(self.bot, interaction, name)
        if character is None:
            return
        image = character.image
        filename = file_name(f"character-{character.id}", image)
        embed = character_embed(character, interaction.user.id, locale_of(interaction))
        embed.set_image(url=f"attachment://{filename}")
        await interaction.response.send_message(
            embed=embed,
            file=image_file(image, filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @character.command(
        name=named("command", "rename"),
        description=locale_str("Rename one of your characters."),
    )
    @app_commands.describe(
        name=locale_str("The character to rename"), new_name=locale_str("Its new name")
    )
    @app_commands.autocomplete(name=character_names)
    @app_commands.rename(name=named("command", "name"), new_name=named("command", "new_name"))
    async def rename(self, interaction: discord.Interaction, name: str, new_name: str) -> None:
        character = await find_character(self.bot, interaction, name)
        if character is None:
            return
        refusal = _may_change(
            character,
            interaction,
            mark(
                "Only the owner of “{name}”, or someone with the Manage Server permission, "
                "can rename it."
            ),
        )
        if refusal is not None:
            await send_private(interaction, refusal)
            return
        locale = locale_of(interaction)
        try:
            if interaction.guild_id is not None:
                server = await self.bot.servers.get(interaction.guild_id)
                check_words(server.blocked_words, new_name)
            renamed = await self.bot.characters.rename(character, new_name)
        except CharacterError as error:
            await send_private(interaction, user_text(locale, error))
            return
        await send_private(
            interaction,
            tr(locale, "Renamed “{old}” to “{new}”.", old=character.name, new=renamed.name),
        )

    @character.command(
        name=named("command", "delete"),
        description=locale_str("Delete one of your characters (you are asked to confirm)."),
    )
    @app_commands.describe(name=locale_str("The character to delete"))
    @app_commands.autocomplete(name=character_names)
    @app_commands.rename(name=named("command", "name"))
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        character = await find_character(self.bot, interaction, name)
        if character is None:
            return
        refusal = _may_change(
            character,
            interaction,
            mark(
                "Only the owner of “{name}”, or someone with the Manage Server permission, "
                "can delete it."
            ),
        )
        if refusal is not None:
            await send_private(interaction, refusal)
            return
        locale = locale_of(interaction)
        name = character.name

        async def delete() -> str:
            if await self.bot.characters.delete(character.id):
                return tr(locale, "Deleted “{name}”.", name=name)
            return tr(locale, "“{name}” was deleted already.", name=name)

        if character.owner_id != interaction.user.id:
            question = tr(
                locale,
                "Delete “{name}” for good? It was saved by <@{owner}> and is shared in this "
                "server.",
                name=name,
                owner=character.owner_id,
            )
        else:
            question = tr(locale, "Delete “{name}” for good?", name=name)
        view = Confirm(
            interaction,
            delete,
            working=tr(locale, "Deleting “{name}”…", name=name),
            cancelled=tr(locale, "Kept “{name}”.", name=name),
            expired=tr(locale, "No answer within a minute, so “{name}” was kept.", name=name),
        )
        await interaction.response.send_message(
            question,
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(
        name=named("command", "forget-me"),
        description=locale_str(
            "Delete everything the bot keeps about you: your characters and your requests."
        ),
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def forget_me(self, interaction: discord.Interaction) -> None:
        user_id = interaction.user.id
        locale = locale_of(interaction)
        view = Confirm(
            interaction,
            lambda: self._forget(user_id, locale),
            working=tr(locale, "Forgetting you…"),
            cancelled=tr(locale, "Nothing was deleted."),
            expired=tr(locale, "No answer within a minute, so nothing was deleted."),
        )
        await interaction.response.send_message(
            tr(
                locale,
                "This deletes your saved characters, your /settings and every request you made, "
                "with their images, cancels the ones still waiting, and removes your images from "
                "requests other people made from yours. It cannot be undone. Go ahead?",
            ),
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _forget(self, user_id: int, locale: discord.Locale) -> str:
        characters = await self.bot.characters.delete_user_data(user_id)
        stories = await self.bot.stories.delete_user_data(user_id)
        # Others' Rerolls of a result of theirs, poses of a character they shared.
        others = await self.bot.store.remove_uploads_of(user_id)
        # Waiting requests are cancelled, ended ones deleted; started ones (paid for) finish.
        forgotten = await self.bot.store.delete_user_data(user_id, self.bot.clock())
        for job in forgotten.cancelled:
            self.bot.cooldowns.refund(job.requester_id, job.interaction_id)
            await remove_card(self.bot, job)
        sheets = await self.bot.sheets.delete_user_data(user_id)
        kept = await remove_results(self.bot, [*forgotten.results, *sheets])
        requests = forgotten.deleted + len(forgotten.cancelled)
        settings = await self.bot.user_settings.delete_user_data(user_id)
        log.info(
            "forgot user %s: %d character(s), %d request(s), uploads in %d other request(s)%s",
            user_id,
            characters,
            requests,
            others,
            ", their /settings" if settings else "",
        )
        if not characters and not requests and not others and not forgotten.unfinished:
            if stories:
                return tr(locale, "Deleted your {count} stories.", count=stories)
            if settings:
                return tr(
                    locale,
                    "Deleted your defaults from /settings; the bot kept no characters or "
                    "requests of yours.",
                )
            return tr(
                locale,
                "There was nothing to delete: the bot keeps no characters or requests of yours.",
            )
        text = tr(
            locale,
            "Deleted {characters} and {requests} with their images.",
            characters=_count(locale, characters, ONE_CHARACTER, CHARACTERS),
            requests=_count(locale, requests, ONE_REQUEST, REQUESTS),
        )
        if others:
            text += " " + tr(
                locale,
                "Your images were also removed from {requests} other people made from yours.",
                requests=_count(locale, others, ONE_REQUEST, REQUESTS),
            )
        if settings:
            text += " " + tr(locale, "Your defaults from /settings are deleted too.")
        if stories:
            text += " " + tr(locale, "Your {count} stories are deleted too.", count=stories)
        if len(forgotten.results) > kept:
            text += " " + tr(
                locale,
                "Removed {count} of the bot's messages with your results.",
                count=len(forgotten.results) - kept,
            )
        if kept:
            text += " " + tr(
                locale,
                "{count} could not be removed: the bot can no longer reach them.",
                count=kept,
            )
        if forgotten.unfinished:
            text += " " + tr(
                locale,
                "{count} started request(s) are paid for and will finish; use /forget-me again "
                "once they are done.",
                count=forgotten.unfinished,
            )
        return text


ONE_CHARACTER, CHARACTERS = mark("1 character"), mark("{count} characters")
ONE_REQUEST, REQUESTS = mark("1 request"), mark("{count} requests")


def _count(locale: discord.Locale, number: int, one: str, many: str) -> str:
    return tr(locale, one) if number == 1 else tr(locale, many, count=number)


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(CharacterCog(bot))
