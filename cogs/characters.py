"""The character library in Discord (/character save, list, show, rename, delete) and /forget-me.

Everything here is about the user's own data, so every answer is private. Deleting asks first.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.domain.characters import (
    MAX_DESCRIPTION_LENGTH,
    Character,
    CharacterError,
    check_name,
)
from bot.domain.errors import UserError
from bot.domain.images import (
    MAX_UPLOAD_BYTES,
    ImageRejected,
    PreparedImage,
    prepare_reference,
    thumbnail,
)
from bot.domain.server_rules import blocked_word_in
from bot.storage import job_store as states
from bot.ui import views
from bot.ui.cards import remove_card
from bot.ui.character_choice import character_names, find_character
from bot.ui.replies import NO_MENTIONS, report_unexpected, send_private

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

# Discord allows 10 embeds and 10 files in one message: one page of the list.
PAGE_SIZE = 10
CONFIRM_TIMEOUT_SECONDS = 60.0
# A private message can only be edited through its interaction, whose token lives 15 minutes.
PAGES_TIMEOUT_SECONDS = 14 * 60
SAVE_HINT = "Save one with `/character save`: give it a name and attach an image of it."
GENERATING = "You have a generation running; try again when it is done."


def _image(character: Character) -> PreparedImage:
    return PreparedImage(character.data, character.format, character.width, character.height)


def _filename(character: Character, image: PreparedImage, stem: str = "character") -> str:
    extension = "jpg" if image.format == "jpeg" else image.format
    return f"{stem}-{character.id}.{extension}"


def _file(image: PreparedImage, filename: str) -> discord.File:
    return discord.File(io.BytesIO(image.data), filename=filename)


def _embed(character: Character, viewer_id: int) -> discord.Embed:
    embed = discord.Embed(
        title=character.name,
        description=character.description or None,
        colour=discord.Colour.blurple(),
    )
    owner = "you" if character.owner_id == viewer_id else f"<@{character.owner_id}>"
    embed.add_field(name="Owner", value=owner)
    if character.shared:
        shared = "Yes: everyone in its server can pose it"
    else:
        shared = "No: only its owner can pose it"
    embed.add_field(name="Shared", value=shared)
    return embed


def _may_change(character: Character, interaction: discord.Interaction, verb: str) -> str | None:
    """Why this user may not rename or delete this character, or None if they may."""
    if character.owner_id == interaction.user.id:
        return None
    if character.shared and interaction.permissions.manage_guild:
        return None
    return (
        f"Only the owner of “{character.name}”, or someone with the Manage Server permission, "
        f"can {verb} it."
    )


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
        self.origin = origin
        self.action = action
        self.working = working
        self.cancelled = cancelled
        self.expired = expired
        self.answered = False

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.origin.user.id:
            await send_private(interaction, "Only the person who asked can answer this.")
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
            text = str(error)
        except Exception as error:
            command = self.origin.command
            text = report_unexpected(error, f"/{command.qualified_name if command else '?'}")
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


class CharacterPages(views.View):
    """The character list, PAGE_SIZE to a page, with Previous / Next for the asker."""

    def __init__(
        self, bot: PoseBot, origin: discord.Interaction, characters: list[Character]
    ) -> None:
        super().__init__(timeout=PAGES_TIMEOUT_SECONDS)
        self.bot = bot
        self.origin = origin
        self.characters = characters
        self.page = 0
        self.pages = math.ceil(len(characters) / PAGE_SIZE)
        self._update_buttons()

    async def render(self) -> dict[str, Any]:
        """The current page as message fields: text, one embed and one thumbnail each."""
        start = self.page * PAGE_SIZE
        shown = []
        for summary in self.characters[start : start + PAGE_SIZE]:
            character = await self.bot.characters.get(summary.id)
            if character is not None:  # deleted since the list was made
                shown.append(character)
        small = await asyncio.to_thread(lambda: [thumbnail(_image(c)) for c in shown])
        embeds, files = [], []
        for character, image in zip(shown, small, strict=True):
            filename = _filename(character, image, "thumbnail")
            embed = _embed(character, self.origin.user.id)
            embed.set_thumbnail(url=f"attachment://{filename}")
            embeds.append(embed)
            files.append(_file(image, filename))
        count = len(self.characters)
        content = (
            f"**Characters you can pose** ({count}; page {self.page + 1} of {self.pages}). "
            "`/character show` shows one in full."
        )
        return {"content": content, "embeds": embeds, "files": files}

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous_page(
        self, interaction: discord.Interaction, button: discord.ui.Button
    ) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, 1)

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        await interaction.response.defer()  # loading a page of images may take a moment
        self.page = max(0, min(self.pages - 1, self.page + step))
        self._update_buttons()
        page = await self.render()
        await interaction.edit_original_response(
            content=page["content"],
            embeds=page["embeds"],
            attachments=page["files"],
            view=self,
            allowed_mentions=NO_MENTIONS,
        )

    def _update_buttons(self) -> None:
        self.previous_page.disabled = self.page == 0
        self.next_page.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.origin.user.id:
            await send_private(interaction, "These buttons are for the person who asked.")
            return False
        return True

    async def on_timeout(self) -> None:
        try:
            await self.origin.edit_original_response(view=None)
        except discord.HTTPException as error:
            log.debug("could not remove the list's buttons: %s", error)


class CharacterCog(commands.Cog):
    character = app_commands.Group(
        name=locale_str("character"),
        description=locale_str("Your saved characters, ready to pose"),
        guild_only=True,
    )

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @character.command(
        name=locale_str("save"),
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
        name=locale_str("name"),
        image=locale_str("image"),
        description=locale_str("description"),
        shared=locale_str("shared"),
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
        try:
            # Everything that can be checked is checked before the image is downloaded.
            name = check_name(name)
            if shared and not interaction.permissions.manage_guild:
                raise CharacterError(
                    "Sharing a character with the server needs the Manage Server permission. "
                    "Save it without `shared` to keep it for yourself."
                )
            await self.bot.characters.check_room(user_id, name)
            if interaction.guild_id is not None:
                server = await self.bot.servers.get(interaction.guild_id)
                word = blocked_word_in([name, description or ""], server.blocked_words)
                if word is not None:
                    raise CharacterError(f"This server does not allow the word “{word}”.")
            if image.size > MAX_UPLOAD_BYTES:
                raise ImageRejected(
                    f"The image is {image.size / 2**20:.1f} MiB; the limit is 10 MiB."
                )
        except (CharacterError, ImageRejected) as error:
            await send_private(interaction, str(error))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            prepared = await self._load(image)
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
            await send_private(interaction, str(error))
            return
        small = await asyncio.to_thread(thumbnail, prepared)
        filename = _filename(character, small, "thumbnail")
        embed = _embed(character, user_id)
        embed.set_thumbnail(url=f"attachment://{filename}")
        who = "everyone in this server" if character.shared else "you"
        await interaction.followup.send(
            f"Saved “{character.name}”: {who} can pose it now.",
            embed=embed,
            file=_file(small, filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _load(self, attachment: discord.Attachment) -> PreparedImage:
        try:
            data = await attachment.read()
        except discord.HTTPException:
            raise ImageRejected(
                "The image could not be downloaded from Discord; please attach it again."
            ) from None
        # Decoding takes a while: off the event loop, so other users get their replies.
        return await asyncio.to_thread(prepare_reference, data, label="The image")

    @character.command(
        name=locale_str("list"),
        description=locale_str(
            "List the characters you can pose: yours and the ones shared in this server."
        ),
    )
    async def list_characters(self, interaction: discord.Interaction) -> None:
        characters = await self.bot.characters.usable(interaction.user.id, interaction.guild_id)
        if not characters:
            await send_private(
                interaction,
                f"You have no characters yet, and none are shared in this server. {SAVE_HINT}",
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
        name=locale_str("show"),
        description=locale_str("Show one of the characters you can pose, with its image."),
    )
    @app_commands.describe(name=locale_str("The character to show"))
    @app_commands.autocomplete(name=character_names)
    @app_commands.rename(name=locale_str("name"))
    async def show(self, interaction: discord.Interaction, name: str) -> None:
        character = await find_character(self.bot, interaction, name)
        if character is None:
            return
        image = _image(character)
        filename = _filename(character, image)
        embed = _embed(character, interaction.user.id)
        embed.set_image(url=f"attachment://{filename}")
        await interaction.response.send_message(
            embed=embed, file=_file(image, filename), ephemeral=True, allowed_mentions=NO_MENTIONS
        )

    @character.command(
        name=locale_str("rename"),
        description=locale_str("Rename one of your characters."),
    )
    @app_commands.describe(
        name=locale_str("The character to rename"), new_name=locale_str("Its new name")
    )
    @app_commands.autocomplete(name=character_names)
    @app_commands.rename(name=locale_str("name"), new_name=locale_str("new_name"))
    async def rename(self, interaction: discord.Interaction, name: str, new_name: str) -> None:
        character = await find_character(self.bot, interaction, name)
        if character is None:
            return
        refusal = _may_change(character, interaction, "rename")
        if refusal is not None:
            await send_private(interaction, refusal)
            return
        try:
            renamed = await self.bot.characters.rename(character, new_name)
        except CharacterError as error:
            await send_private(interaction, str(error))
            return
        await send_private(interaction, f"Renamed “{character.name}” to “{renamed.name}”.")

    @character.command(
        name=locale_str("delete"),
        description=locale_str("Delete one of your characters (you are asked to confirm)."),
    )
    @app_commands.describe(name=locale_str("The character to delete"))
    @app_commands.autocomplete(name=character_names)
    @app_commands.rename(name=locale_str("name"))
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        character = await find_character(self.bot, interaction, name)
        if character is None:
            return
        refusal = _may_change(character, interaction, "delete")
        if refusal is not None:
            await send_private(interaction, refusal)
            return

        async def delete() -> str:
            if await self.bot.characters.delete(character.id):
                return f"Deleted “{character.name}”."
            return f"“{character.name}” was deleted already."

        note = ""
        if character.owner_id != interaction.user.id:
            note = f" It was saved by <@{character.owner_id}> and is shared in this server."
        view = Confirm(
            interaction,
            delete,
            working=f"Deleting “{character.name}”…",
            cancelled=f"Kept “{character.name}”.",
            expired=f"No answer within a minute, so “{character.name}” was kept.",
        )
        await interaction.response.send_message(
            f"Delete “{character.name}” for good?{note}",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(
        name=locale_str("forget-me"),
        description=locale_str(
            "Delete everything the bot keeps about you: your characters and your requests."
        ),
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def forget_me(self, interaction: discord.Interaction) -> None:
        user_id = interaction.user.id
        if await self._generating(user_id):
            await send_private(interaction, GENERATING)
            return
        view = Confirm(
            interaction,
            lambda: self._forget(user_id),
            working="Forgetting you…",
            cancelled="Nothing was deleted.",
            expired="No answer within a minute, so nothing was deleted.",
        )
        await interaction.response.send_message(
            "This deletes your saved characters and every request you made, with their images, "
            "cancels the ones still waiting, and removes your images from requests other people "
            "made from yours. It cannot be undone. Go ahead?",
            view=view,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    async def _generating(self, user_id: int) -> bool:
        running = await self.bot.store.jobs([states.RUNNING, states.GENERATED])
        return any(job.requester_id == user_id for job in running)

    async def _forget(self, user_id: int) -> str:
        # A running job is paid for and owned by the runner: it is never deleted under it.
        if await self._generating(user_id):
            return GENERATING
        queued = [
            job for job in await self.bot.store.jobs([states.QUEUED]) if job.requester_id == user_id
        ]
        for job in queued:
            if await self.bot.runner.cancel(job.id):
                await remove_card(self.bot, job)
        if await self._generating(user_id):  # one started while the others were cancelled
            return f"Your waiting requests were cancelled, but one had started. {GENERATING}"
        characters = await self.bot.characters.delete_user_data(user_id)
        # Others' Rerolls of a result of theirs, poses of a character they shared.
        others = await self.bot.store.remove_uploads_of(user_id)
        requests = await self.bot.store.delete_user_data(user_id)
        log.info(
            "forgot user %s: %d character(s), %d request(s), uploads in %d other request(s)",
            user_id,
            characters,
            requests,
            others,
        )
        if not characters and not requests and not others:
            return "There was nothing to delete: the bot keeps no characters or requests of yours."
        text = (
            f"Deleted {_count(characters, 'character')} and {_count(requests, 'request')} "
            "with their images."
        )
        if others:
            text += (
                f" Your images were also removed from {_count(others, 'request')} other people "
                "made from yours."
            )
        return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(CharacterCog(bot))
