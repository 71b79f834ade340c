"""The forms a result's buttons open: New pose (new words for the same character and seed) and
Save character (the result kept in the presser's character library).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.domain.characters import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, check_words
from bot.domain.pose_defaults import resolve_options
from bot.domain.pose_request import MAX_PROMPT_LENGTH, PoseOptions
from bot.storage.job_store import RESULT, Job, StoredImage
from bot.ui import views
from bot.ui.files import download_image
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.replies import send_private
from bot.ui.result_reuse import reuse_result

if TYPE_CHECKING:
    from bot.posebot import PoseBot
    from bot.ui.result_buttons import ResultButton


THE_RESULTS_IMAGE = mark("The result's image")
RESULT_UNREACHABLE = mark(
    "The result's image could not be downloaded from Discord; please try again."
)


class NewPoseModal(views.Modal):
    """The same character and seed, with new words for the pose."""

    def __init__(self, button: ResultButton, prompt: str, locale: discord.Locale) -> None:
        super().__init__(title=tr(locale, "New pose"))
        self.button = button
        self.prompt: discord.ui.TextInput[NewPoseModal] = discord.ui.TextInput(
            label=tr(locale, "Describe the character and the new pose"),
            style=discord.TextStyle.paragraph,
            default=prompt[:MAX_PROMPT_LENGTH],
            max_length=MAX_PROMPT_LENGTH,
            custom_id="prompt",
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]

        async def options(job: Job) -> PoseOptions:
            # The words from the form, the character and seed from the result; what the form
            # does not ask is the presser's default where they chose one, else the result's.
            defaults = await bot.intake.user_defaults(interaction.user.id)
            return resolve_options(defaults, prompt=self.prompt.value, base=job.options)

        await reuse_result(interaction, self.button, options)


class SaveCharacterModal(views.Modal):
    """Keeps a result's image in the presser's character library: the bot's copy while it is
    kept, else the one the result's message carries."""

    def __init__(
        self, job: Job, locale: discord.Locale, attachment: discord.Attachment | None = None
    ) -> None:
        super().__init__(title=tr(locale, "Save this character"))
        self.job = job
        self.attachment = attachment
        self.name: discord.ui.TextInput[SaveCharacterModal] = discord.ui.TextInput(
            label=tr(locale, "Name"), max_length=MAX_NAME_LENGTH, custom_id="name"
        )
        self.description: discord.ui.TextInput[SaveCharacterModal] = discord.ui.TextInput(
            label=tr(locale, "Their look (put before every prompt)"),
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=MAX_DESCRIPTION_LENGTH,
            custom_id="description",
        )
        self.add_item(self.name)
        self.add_item(self.description)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        locale = locale_of(interaction)
        # The server's words, where it is saved, else (a direct message) where it was made.
        guild_id = interaction.guild_id or self.job.guild_id
        if guild_id is not None:
            server = await bot.servers.get(guild_id)
            check_words(server.blocked_words, self.name.value, self.description.value or "")
        result = (await bot.store.images(self.job.id)).get(RESULT)
        if result is None:
            if self.attachment is None:
                await send_private(interaction, tr(locale, "This result is no longer stored."))
                return
            await interaction.response.defer(ephemeral=True, thinking=True)
            result = await self._download(bot, self.attachment)
        character = await bot.characters.save(
            owner_id=interaction.user.id,
            guild_id=interaction.guild_id,
            name=self.name.value,
            description=self.description.value or "",
            shared=False,
            image_format=result.format,
            width=result.width,
            height=result.height,
            data=result.data,
            now=bot.clock(),
        )
        await send_private(
            interaction,
            tr(
                locale,
                "Saved “{name}” to your characters: pose it with `/pose saved:{name}`.",
                name=character.name,
            ),
        )

    async def _download(self, bot: PoseBot, attachment: discord.Attachment) -> StoredImage:
        image = await download_image(
            attachment,
            THE_RESULTS_IMAGE,
            bot.memory,
            bot.http_session,
            unreachable=RESULT_UNREACHABLE,
        )
        return StoredImage.of(RESULT, image)
