"""The character library in Discord (/character save, list, show, rename, delete) and /forget-me.

Everything here is about the user's own data, so every answer is private. Deleting asks first.
"""

from __future__ import annotations

import asyncio
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
    THE_IMAGE,
    TOO_BIG,
    ImageRejected,
    thumbnail,
)
from bot.domain.server_rules import blocked_word_in
from bot.storage import job_store as states
from bot.ui import views
from bot.ui.cards import remove_card
from bot.ui.character_choice import character_names, find_character
from bot.ui.files import download_image, file_name, image_file
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.replies import NO_MENTIONS, report_unexpected, send_private, user_text

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

# Discord allows 10 embeds and 10 files in one message: one page of the list.
PAGE_SIZE = 10
CONFIRM_TIMEOUT_SECONDS = 60.0
# A private message can only be edited through its interaction, whose token lives 15 minutes.
PAGES_TIMEOUT_SECONDS = 14 * 60
GENERATING = mark("You have a generation running; try again when it is done.")


def _embed(character: Character, viewer_id: int, locale: discord.Locale) -> discord.Embed:
    embed = discord.Embed(
        title=character.name,
        description=character.description or None,
        colour=discord.Colour.blurple(),
    )
    owner = tr(locale, "you") if character.owner_id == viewer_id else f"<@{character.owner_id}>"
    embed.add_field(name=tr(locale, "Owner"), value=owner)
    if character.shared:
        shared = tr(locale, "Yes: everyone in its server can pose it")
    else:
        shared = tr(locale, "No: only its owner can pose it")
    embed.add_field(name=tr(locale, "Shared"), value=shared)
    return embed


def _may_change(character: Character, interaction: discord.Interaction, refusal: str) -> str | None:
    """Why this user may not rename or delete this character (`refusal`, with the name), or
    None if they may."""
    if character.owner_id == interaction.user.id:
        return None
    if character.shared and interaction.permissions.manage_guild:
        return None
    return tr(locale_of(interaction), refusal, name=character.name)


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
        self.locale = locale_of(origin)
        self.previous_page.label = tr(self.locale, "Previous")
        self.next_page.label = tr(self.locale, "Next")
        self._update_buttons()

    async def render(self) -> dict[str, Any]:
        """The current page as message fields: text, one embed and one thumbnail each."""
        start = self.page * PAGE_SIZE
        shown = []
        for summary in self.characters[start : start + PAGE_SIZE]:
            character = await self.bot.characters.get(summary.id)
            if character is not None:  # deleted since the list was made
                shown.append(character)
        small = await asyncio.to_thread(lambda: [thumbnail(c.image) for c in shown])
        embeds, files = [], []
        for character, image in zip(shown, small, strict=True):
            filename = file_name(f"thumbnail-{character.id}", image)
            embed = _embed(character, self.origin.user.id, self.locale)
            embed.set_thumbnail(url=f"attachment://{filename}")
            embeds.append(embed)
            files.append(image_file(image, filename))
        count = len(self.characters)
        content = tr(
            self.locale,
            "**Characters you can pose** ({count}; page {page} of {pages}). "
            "`/character show` shows one in full.",
            count=count,
            page=self.page + 1,
            pages=self.pages,
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
            await send_private(
                interaction,
                tr(locale_of(interaction), "These buttons are for the person who asked."),
            )
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
                word = blocked_word_in([name, description or ""], server.blocked_words)
                if word is not None:
                    raise CharacterError(
                        mark("This server does not allow the word “{word}”."), word=word
                    )
            if image.size > MAX_UPLOAD_BYTES:
                raise ImageRejected(TOO_BIG, label=THE_IMAGE, size=f"{image.size / 2**20:.1f}")
        except (CharacterError, ImageRejected) as error:
            await send_private(interaction, user_text(locale, error))
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            prepared = await download_image(image, THE_IMAGE)
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
        embed = _embed(character, user_id, locale)
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
        image = character.image
        filename = file_name(f"character-{character.id}", image)
        embed = _embed(character, interaction.user.id, locale_of(interaction))
        embed.set_image(url=f"attachment://{filename}")
        await interaction.response.send_message(
            embed=embed,
            file=image_file(image, filename),
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
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
            renamed = await self.bot.characters.rename(character, new_name)
        except CharacterError as error:
            await send_private(interaction, user_text(locale, error))
            return
        await send_private(
            interaction,
            tr(locale, "Renamed “{old}” to “{new}”.", old=character.name, new=renamed.name),
        )

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
        name=locale_str("forget-me"),
        description=locale_str(
            "Delete everything the bot keeps about you: your characters and your requests."
        ),
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def forget_me(self, interaction: discord.Interaction) -> None:
        user_id = interaction.user.id
        locale = locale_of(interaction)
        if await self._generating(user_id):
            await send_private(interaction, tr(locale, GENERATING))
            return
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

    async def _generating(self, user_id: int) -> bool:
        running = await self.bot.store.jobs([states.RUNNING, states.GENERATED])
        return any(job.requester_id == user_id for job in running)

    async def _forget(self, user_id: int, locale: discord.Locale) -> str:
        # A running job is paid for and owned by the runner: it is never deleted under it.
        if await self._generating(user_id):
            return tr(locale, GENERATING)
        queued = [
            job for job in await self.bot.store.jobs([states.QUEUED]) if job.requester_id == user_id
        ]
        for job in queued:
            if await self.bot.runner.cancel(job.id):
                await remove_card(self.bot, job)
        if await self._generating(user_id):  # one started while the others were cancelled
            return tr(
                locale,
                "Your waiting requests were cancelled, but one had started. {generating}",
                generating=GENERATING,
            )
        characters = await self.bot.characters.delete_user_data(user_id)
        # Others' Rerolls of a result of theirs, poses of a character they shared.
        others = await self.bot.store.remove_uploads_of(user_id)
        requests = await self.bot.store.delete_user_data(user_id)
        settings = await self.bot.user_settings.delete_user_data(user_id)
        log.info(
            "forgot user %s: %d character(s), %d request(s), uploads in %d other request(s)%s",
            user_id,
            characters,
            requests,
            others,
            ", their /settings" if settings else "",
        )
        if not characters and not requests and not others:
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
        return text


ONE_CHARACTER, CHARACTERS = mark("1 character"), mark("{count} characters")
ONE_REQUEST, REQUESTS = mark("1 request"), mark("{count} requests")


def _count(locale: discord.Locale, number: int, one: str, many: str) -> str:
    return tr(locale, one) if number == 1 else tr(locale, many, count=number)


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(CharacterCog(bot))
