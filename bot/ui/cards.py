"""How jobs look in Discord: a public card that shows the job and then becomes its result.

The card is the interaction's own reply. It shows the job's place in the queue with a Cancel
button, then "generating", then it is edited into the result with its buttons (Reroll, New pose,
Save character, Delete). An edit is idempotent, so a result delivered again after a crash still
appears once. Failures are told privately. Every button is a DynamicItem whose custom_id holds
the job's id, so buttons keep working after a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.domain.characters import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH, check_words
from bot.domain.errors import UserError
from bot.domain.images import CheckedImage, fit_for_upload
from bot.domain.pose_defaults import resolve_options
from bot.domain.pose_request import MAX_PROMPT_LENGTH, InvalidRequest, PoseOptions, random_seed
from bot.engine.presenter import WaitTooLong
from bot.segmind import SegmindError
from bot.storage.job_store import CANCELLED, CHARACTER, POSE, RESULT, Job, StoredImage
from bot.ui import views
from bot.ui.files import download_image, file_name, image_file
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.replies import (
    NO_MENTIONS,
    explain,
    report_unexpected,
    send_private,
    timestamp,
    user_text,
)

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

# Interaction tokens live 15 minutes; keep a margin for the last call to get through.
TOKEN_MARGIN_SECONDS = 60
INVALID_WEBHOOK_TOKEN = 50027  # Discord's code for an interaction token that is no longer valid
THE_RESULTS_IMAGE = mark("The result's image")
RESULT_UNREACHABLE = mark(
    "The result's image could not be downloaded from Discord; please try again."
)
# Ids are signed 64-bit integers in both databases: a button naming a larger one is forged.
MAX_STORED_ID = 2**63 - 1


def interaction_webhook(bot: PoseBot, job: Job) -> discord.Webhook:
    """The webhook behind a stored interaction token, built as discord.py builds
    `Interaction.followup` (an application webhook, so it may send private messages),
    so that a job can be shown and delivered after a restart too."""
    data: Any = {"id": job.application_id, "type": 3, "token": job.token}
    return discord.Webhook.from_state(data=data, state=bot._connection)


async def job_of_button(bot: PoseBot, job_id: int) -> Job | None:
    """The stored job a button names, or None when it is gone."""
    if job_id > MAX_STORED_ID:
        raise UserError(mark("This button does not belong to any request of this bot."))
    return await bot.store.job(job_id)


def check_on_its_message(interaction: discord.Interaction, job: Job) -> None:
    """A job's buttons act only on its own card or result, whatever their custom_id says."""
    message = interaction.message
    if message is None or message.id not in (job.status_message_id, job.result_message_id):
        raise UserError(mark("This button does not belong to this message's request."))


# The custom_ids' ids are ASCII digits only: `\d` would also take other scripts' digits.
class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"pose:cancel:(?P<id>[0-9]+)"
):
    """Cancels a queued job; only its requester may. Works after a restart (id in custom_id)."""

    def __init__(self, job_id: int, locale: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=tr(locale, "Cancel"),
                style=discord.ButtonStyle.secondary,
                custom_id=f"pose:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> CancelButton:
        return cls(int(match["id"]))

    @views.answer_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        locale = locale_of(interaction)
        job = await job_of_button(bot, self.job_id)
        if job is None or job.requester_id != interaction.user.id:
            await send_private(
                interaction, tr(locale, "Only the person who asked for this can cancel it.")
            )
            return
        check_on_its_message(interaction, job)
        if not await bot.runner.cancel(self.job_id):
            # Two presses at once: the one that lost finds the job cancelled, not started.
            now = await bot.store.job(self.job_id)
            if now is None or now.state == CANCELLED:
                text = tr(locale, "It was already cancelled; nothing was charged.")
            else:
                text = tr(locale, "It has already started, so it cannot be cancelled.")
            await send_private(interaction, text)
            return
        await interaction.response.edit_message(
            content=tr(card_locale(job), "🚫 Cancelled. Nothing was charged."),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )


def card_locale(job: Job) -> str:
    """The language of a job's card and result: its server's, unless only its requester sees
    them (the server keeps results private)."""
    return job.locale if job.private else job.guild_locale


def _cancel_view(job: Job) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id, card_locale(job)))
    return view


class DiscordPresenter:
    """Shows jobs in Discord, through the interaction while its token lives, then the channel."""

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    async def show_queued(
        self, job: Job, position: int, starts_at: float, *, resumed: bool
    ) -> None:
        locale = card_locale(job)
        note = tr(locale, "🔄 The bot restarted; your request kept its place.") if resumed else ""
        now = self.bot.clock()
        if starts_at <= now + 5:
            queued = tr(
                locale,
                "⏳ Queued: position {position}, should start any moment now.",
                position=position,
            )
        else:
            queued = tr(
                locale,
                "⏳ Queued: position {position}, should start {when}.",
                position=position,
                when=timestamp(starts_at),
            )
        await self._edit_card(
            job, content="\n".join(filter(None, (note, queued))), view=_cancel_view(job)
        )

    async def show_running(self, job: Job, *, resumed: bool) -> None:
        locale = card_locale(job)
        note = (
            tr(locale, "🔄 The bot restarted; your image is still being made.") if resumed else ""
        )
        generating = tr(
            locale,
            "🎨 Generating… started {when}; this usually takes about 40 seconds.",
            when=timestamp(self.bot.clock()),
        )
        await self._edit_card(job, content="\n".join(filter(None, (note, generating))), view=None)

    async def show_waiting(self, job: Job, until: float) -> None:
        await self._edit_card(
            job,
            content=tr(
                card_locale(job),
                "⏳ The image service is busy; retrying {when}.",
                when=timestamp(until),
            ),
            view=_cancel_view(job),
        )

    async def show_paused(self, job: Job, reason: str) -> None:
        await self._edit_card(
            job,
            content=tr(
                card_locale(job),
                "⏸️ Paused: {reason}. This request keeps its place and runs once the bot's "
                "owner has fixed it; nothing is charged meanwhile.",
                reason=tr(card_locale(job), reason),  # stored in English (bot/engine/job.py)
            ),
            view=_cancel_view(job),
        )

    async def alert_owner(self, text: str) -> None:
        application = await self.bot.application_info()
        owner = application.team.owner if application.team else application.owner
        if owner is not None:
            try:
                await owner.send(text, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as error:
                log.error("could not send the owner a direct message: %s", error)
        channel_id = self.bot.settings.alert_channel_id
        if channel_id is not None:
            await self.bot.get_partial_messageable(channel_id).send(
                text, allowed_mentions=NO_MENTIONS
            )

    async def show_interrupted(self, job: Job) -> None:
        await self._edit_card(
            job,
            content=tr(
                card_locale(job),
                "🔄 The bot is restarting; this request keeps its place and resumes shortly.",
            ),
            view=None,
        )

    async def deliver(self, job: Job, image: CheckedImage) -> int:
        fitted = await asyncio.to_thread(fit_for_upload, image, job.upload_limit)
        filename = file_name(f"pose-{job.options.seed}", fitted)
        locale = card_locale(job)
        embed = await self._embed(job, filename, locale)
        if token_alive(self.bot, job) and job.status_message_id is not None:
            try:
                # Editing the card is idempotent: delivering twice still shows one result.
                await interaction_webhook(self.bot, job).edit_message(
                    job.status_message_id,
                    content=None,
                    embed=embed,
                    attachments=[image_file(fitted, filename)],
                    view=result_view(job.id, locale),
                    allowed_mentions=NO_MENTIONS,
                )
                return job.status_message_id
            except discord.NotFound:
                pass  # the card was deleted: post the result in the channel instead
            except discord.HTTPException as error:
                if error.code != INVALID_WEBHOOK_TOKEN:
                    raise
        if job.private:
            # The interaction is over and the server wants results private: a direct message.
            dm = await self.bot.create_dm(discord.Object(id=job.requester_id))
            message = await dm.send(
                tr(job.locale, "Your pose is ready."),
                embed=embed,
                file=image_file(fitted, filename),
                view=result_view(job.id, locale),
                allowed_mentions=NO_MENTIONS,
                nonce=_nonce(job),  # as below: sent again after a failure, it still shows once
            )
            return message.id
        message = await self._channel(job).send(
            tr(job.guild_locale, "<@{user}>, your pose is ready.", user=job.requester_id),
            embed=embed,
            file=image_file(fitted, filename),
            view=result_view(job.id, locale),
            allowed_mentions=_only_requester(job),
            # Discord drops a second message with the same nonce: a resend after a crash
            # between posting and recording the post does not show the result twice.
            nonce=_nonce(job),
        )
        return message.id

    def is_transient(self, error: Exception) -> bool:
        if isinstance(error, discord.HTTPException):
            return error.status == 429 or error.status >= 500
        return isinstance(error, aiohttp.ClientError | TimeoutError | OSError | discord.RateLimited)

    async def report_failure(self, job: Job, error: Exception) -> None:
        # Told to the requester alone, in their language, unless only the channel is left.
        text = self._failure_text(job, error, job.locale)
        if token_alive(self.bot, job):
            await remove_card(self.bot, job)
            await interaction_webhook(self.bot, job).send(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        # Sent again when Discord lost the answer: the nonce keeps it to one message.
        if job.private:
            dm = await self.bot.create_dm(discord.Object(id=job.requester_id))
            await dm.send(text, allowed_mentions=NO_MENTIONS, nonce=_nonce(job, "fail"))
            return
        text = self._failure_text(job, error, job.guild_locale)
        await self._channel(job).send(
            f"<@{job.requester_id}> {text}",
            allowed_mentions=_only_requester(job),
            nonce=_nonce(job, "fail"),
        )

    def _failure_text(self, job: Job, error: Exception, locale: str) -> str:
        if isinstance(error, WaitTooLong):
            return tr(
                locale,
                "The image service is limiting how often the bot may call it. "
                "Please try again {when}; nothing was charged.",
                when=timestamp(error.until),
            )
        if isinstance(error, SegmindError | UserError):
            return explain(error, locale)
        if isinstance(error, discord.HTTPException):
            return tr(
                locale,
                "Your image was made but could not be posted here: {reason}",
                reason=error.text[:200],
            )
        return report_unexpected(error, f"job {job.id}", locale)

    async def _embed(self, job: Job, filename: str, locale: str) -> discord.Embed:
        options = job.options
        width, height = options.dimensions
        size = tr(locale, SIZE_NAMES.get(options.size, options.size))
        embed = discord.Embed(description=options.prompt, colour=discord.Colour.blurple())
        embed.add_field(name=tr(locale, "Seed"), value=f"`{options.seed}`")
        embed.add_field(name=tr(locale, "Steps"), value=str(options.steps))
        embed.add_field(name=tr(locale, "Guidance"), value=f"{options.guidance:g}")
        embed.add_field(name=tr(locale, "Size"), value=f"{size} {width}×{height}")
        elapsed = self.bot.clock() - job.created_at
        embed.add_field(
            name=tr(locale, "Time"), value=tr(locale, "{seconds} s", seconds=f"{elapsed:.0f}")
        )
        embed.add_field(name=tr(locale, "Requested by"), value=f"<@{job.requester_id}>")
        if options.negative_prompt:
            embed.add_field(
                name=tr(locale, "Avoid"), value=options.negative_prompt[:1024], inline=False
            )
        parent = await self.bot.store.job(job.parent_job_id) if job.parent_job_id else None
        if parent is not None and parent.result_message_id is not None:
            embed.add_field(
                name=tr(locale, "From"),
                value=tr(locale, "[this earlier result]({link})", link=result_link(parent)),
            )
        embed.set_image(url=f"attachment://{filename}")
        return embed

    async def _edit_card(self, job: Job, *, content: str, view: discord.ui.View | None) -> None:
        if not token_alive(self.bot, job) or job.status_message_id is None:
            return  # the card can no longer be edited; the result will go to the channel
        await interaction_webhook(self.bot, job).edit_message(
            job.status_message_id, content=content, view=view, allowed_mentions=NO_MENTIONS
        )

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)


def token_alive(bot: PoseBot, job: Job) -> bool:
    """Whether the job's interaction token can still edit its card and speak privately."""
    return bot.clock() < job.token_expires_at - TOKEN_MARGIN_SECONDS


async def remove_card(bot: PoseBot, job: Job) -> None:
    """Take down a job's public card, while its token lives (after that it cannot be)."""
    if job.status_message_id is None or not token_alive(bot, job):
        return
    try:
        await interaction_webhook(bot, job).delete_message(job.status_message_id)
    except discord.HTTPException as problem:
        log.warning("could not remove the card of job %s: %s", job.id, problem)


def result_link(job: Job) -> str:
    guild = job.guild_id or "@me"
    return f"https://discord.com/channels/{guild}/{job.channel_id}/{job.result_message_id}"


def _nonce(job: Job, what: str = "pose") -> str:
    return f"{what}-{job.id}-{int(job.created_at) % 100_000}"


def _only_requester(job: Job) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(id=job.requester_id)]
    )


# The buttons under a result. Each press is a new request by whoever pressed it.

RESULT_ACTIONS = {
    "reroll": (mark("Reroll"), "🎲", discord.ButtonStyle.primary),
    "newpose": (mark("New pose"), "✏️", discord.ButtonStyle.secondary),
    "save": (mark("Save character"), "💾", discord.ButtonStyle.secondary),
    "delete": (mark("Delete"), "🗑️", discord.ButtonStyle.danger),
}
# The sizes as the result's embed names them.
SIZE_NAMES = {
    "square": mark("square"),
    "portrait": mark("portrait"),
    "landscape": mark("landscape"),
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"pose:(?P<action>reroll|newpose|save|delete):(?P<id>[0-9]+)(?P<history>:h)?",
):
    """A result's button; with `from_history`, the same one in its requester's /history
    (Reroll and New pose only), where it acts for the requester alone."""

    def __init__(
        self,
        action: str,
        job_id: int,
        locale: str | None = None,
        *,
        from_history: bool = False,
        label: str | None = None,
    ) -> None:
        default_label, emoji, style = RESULT_ACTIONS[action]
        suffix = ":h" if from_history else ""
        super().__init__(
            discord.ui.Button(
                label=label or tr(locale, default_label),
                emoji=emoji,
                style=style,
                custom_id=f"pose:{action}:{job_id}{suffix}",
            )
        )
        self.action = action
        self.job_id = job_id
        self.from_history = from_history

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> ResultButton:
        return cls(match["action"], int(match["id"]), from_history=bool(match["history"]))

    @views.answer_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        locale = locale_of(interaction)
        if self.action == "reroll":
            # The same request again with a new seed: nothing is left out, so the presser's
            # defaults (/settings) do not apply.
            await reuse_result(interaction, self, rerolled)
            return
        if self.action == "newpose":
            # A form cannot follow a deferral: it is filled from the prompt the message shows,
            # and the result is read once the form is sent.
            prompt = shown_prompt(interaction.message, self)
            if prompt is None:  # shown cut short: read in full
                job = await self._job(interaction, bot, locale)
                prompt = job.options.prompt if job is not None else None
            if prompt is not None:
                await interaction.response.send_modal(NewPoseModal(self, prompt, locale))
            return
        job = await self._job(interaction, bot, locale)
        if job is None:
            return
        if self.action == "delete":
            await delete_result(interaction, job)
        else:
            attachment = result_attachment(interaction.message)
            await interaction.response.send_modal(SaveCharacterModal(job, locale, attachment))

    async def _job(
        self, interaction: discord.Interaction, bot: PoseBot, locale: discord.Locale
    ) -> Job | None:
        """The result this button acts on, if its presser may act on it here."""
        job = await job_of_button(bot, self.job_id)
        if job is None:
            await send_private(interaction, tr(locale, NOT_STORED))
            return None
        self.check(interaction, job)
        return job

    def check(self, interaction: discord.Interaction, job: Job) -> None:
        """Raises UserError when this button may not act on `job` for this presser."""
        if self.from_history:
            # A /history page lists its reader's own results: no one else may act from it.
            if job.requester_id != interaction.user.id or self.action not in HISTORY_ACTIONS:
                raise UserError(mark("This button belongs to someone else's history."))
        else:
            check_on_its_message(interaction, job)


HISTORY_ACTIONS = ("reroll", "newpose")
NOT_STORED = mark("This result is no longer stored, so it cannot be reused.")
OUTSIDE_A_SERVER = mark(
    "This result was not made in a server, so it cannot be reused from here. "
    "Start again with /pose in a server."
)


async def reuse_result(
    interaction: discord.Interaction,
    button: ResultButton,
    make_options: Callable[[Job], Awaitable[PoseOptions]],
) -> None:
    """A new request from a result (Reroll, New pose): deferred before anything is read, then
    made with the result's images, under the rules of the result's server."""
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    locale = locale_of(interaction)
    refusal = bot.intake.refusal(interaction.user.id, locale)
    if refusal is not None:
        await send_private(interaction, refusal)
        return
    # The new card shows as privately as what it came from: a /history page, a private result
    # or a direct message.
    message = interaction.message
    ephemeral = (
        button.from_history
        or interaction.guild_id is None
        or (message is not None and message.flags.ephemeral)
    )
    if not await bot.intake.defer(interaction, ephemeral=ephemeral):
        return  # another process of the bot answered it, and takes care of it
    try:
        job = await job_of_button(bot, button.job_id)
        if job is None:
            raise UserError(NOT_STORED)
        button.check(interaction, job)
        if job.guild_id is None:
            # No server's rules or caps would apply to it: made outside any, it stays there.
            raise UserError(OUTSIDE_A_SERVER)
        if CHARACTER not in await bot.store.image_roles(job.id):
            raise UserError(IMAGES_GONE, days=retention_days(bot))
        options = await make_options(job)
    except Exception as error:
        # After a public deferral a private answer means taking the card down first.
        if isinstance(error, UserError):
            text = user_text(locale, error)
        else:
            text = report_unexpected(error, f"result button of job {button.job_id}", locale)
        await bot.intake.refuse(interaction, text)
        return
    await bot.intake.start_job(
        interaction,
        options,
        images_of(bot, job),
        parent_job_id=job.id,
        character_id=job.character_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
    )


async def rerolled(job: Job) -> PoseOptions:
    return dataclasses.replace(job.options, seed=random_seed())


def shown_prompt(message: discord.Message | None, button: ResultButton) -> str | None:
    """The prompt of the button's result as its message shows it in full: a result's embed,
    or on a /history page the embed numbered as the button; None when not shown in full."""
    if message is None or not message.embeds:
        return None
    embed = message.embeds[0]
    if button.from_history:
        labels = [
            child.label
            for row in message.components
            if isinstance(row, discord.ActionRow)
            for child in row.children
            if isinstance(child, discord.Button) and child.custom_id == button.custom_id
        ]
        numbered = [e for e in message.embeds if labels and e.title == f"{labels[0]}."]
        if not numbered:
            return None
        embed = numbered[0]
    prompt = embed.description or ""
    if not prompt or prompt.endswith("…"):
        return None
    return prompt


def result_view(job_id: int, locale: str | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in RESULT_ACTIONS:
        view.add_item(ResultButton(action, job_id, locale))
    return view


# Why a Reroll or New pose of an old result cannot be made, and what can be.
IMAGES_GONE = mark(
    "The images behind this result are no longer kept: the bot keeps them {days} days after "
    "their last use. 💾 **Save character** still keeps this character for good, or start "
    "again with `/pose`."
)


def retention_days(bot: PoseBot) -> str:
    return f"{bot.settings.image_retention_days:g}"


def result_attachment(message: discord.Message | None) -> discord.Attachment | None:
    """The image a result message carries: Discord's copy, once the bot's own is gone."""
    if message is None:
        return None
    return next(
        (a for a in message.attachments if (a.content_type or "image/").startswith("image/")),
        None,
    )


def images_of(bot: PoseBot, job: Job) -> Any:
    """The job's own inputs, for a new request made from its result."""

    async def load() -> list[StoredImage]:
        stored = await bot.store.images(job.id)
        if CHARACTER not in stored:  # let go of since the button was pressed
            raise InvalidRequest(IMAGES_GONE, days=retention_days(bot))
        # As base64: the attachment URLs they came from may have expired by now.
        return [
            dataclasses.replace(stored[role], source_url=None)
            for role in (CHARACTER, POSE)
            if role in stored
        ]

    return load


async def delete_result(interaction: discord.Interaction, job: Job) -> None:
    permissions = interaction.permissions
    if interaction.user.id != job.requester_id and not permissions.manage_messages:
        await send_private(
            interaction,
            tr(
                locale_of(interaction),
                "Only the person who asked for this, or a moderator, can delete it.",
            ),
        )
        return
    await interaction.response.defer()
    await interaction.delete_original_response()  # the message the button is on
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    await bot.history.result_deleted(job.id)


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
            result = await self._download(self.attachment)
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

    async def _download(self, attachment: discord.Attachment) -> StoredImage:
        image = await download_image(attachment, THE_RESULTS_IMAGE, unreachable=RESULT_UNREACHABLE)
        return StoredImage.of(RESULT, image)
