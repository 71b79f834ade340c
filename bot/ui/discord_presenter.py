"""How jobs look in Discord: the interaction's own reply is a card that shows the job's place,
then "generating", then is edited into the result with its buttons (an edit is idempotent, so
a result delivered again after a crash appears once); later, the channel or a direct message.
Failures are told privately.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.check.channel_access import missing_in
from bot.domain.errors import UserError
from bot.domain.images import CheckedImage, fit_for_upload, reworking_cost
from bot.engine.presenter import WaitTooLong
from bot.segmind import SegmindError
from bot.storage.job_store import Job
from bot.ui.cancel_button import cancel_view
from bot.ui.files import file_name, image_file
from bot.ui.i18n import tr
from bot.ui.job_messages import (
    card_locale,
    interaction_webhook,
    remove_card,
    result_link,
    token_alive,
)
from bot.ui.names import CAMERA_NAMES, EXPRESSION_NAMES, SIZE_NAMES
from bot.ui.replies import NO_MENTIONS, explain, report_unexpected, timestamp
from bot.ui.result_buttons import result_view

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)


INVALID_WEBHOOK_TOKEN = 50027  # Discord's code for an interaction token that is no longer valid
# Discord's codes for a channel that refuses the bot: Missing Access, Missing Permissions.
REFUSED_BY_CHANNEL = (50001, 50013)


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
            job, content="\n".join(filter(None, (note, queued))), view=cancel_view(job)
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
            view=cancel_view(job),
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
            view=cancel_view(job),
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
        async with self.bot.memory.reserve_checked(reworking_cost(image)):
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
        await self._channel_works(job)
        return message.id

    async def _channel_works(self, job: Job) -> None:
        """A result reached the channel: a refusal recorded there before is history."""
        if job.guild_id is None:
            return
        try:
            await self.bot.channel_problems.clear(job.guild_id, job.channel_id)
        except Exception as error:  # the result is posted: this must not post it again
            log.warning(
                "could not clear the refusal noted in channel %s: %s", job.channel_id, error
            )

    def is_transient(self, error: Exception) -> bool:
        if isinstance(error, discord.HTTPException):
            return error.status == 429 or error.status >= 500
        return isinstance(error, aiohttp.ClientError | TimeoutError | OSError | discord.RateLimited)

    async def report_failure(self, job: Job, error: Exception) -> None:
        if _refused_by_channel(job, error):
            await self._report_refusal(job)
            return
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

    async def _report_refusal(self, job: Job) -> None:
        """The channel refused the paid result: the requester hears, privately, which
        permission the bot lacks there, and the server's admins see it in /status. Never the
        channel itself, which refuses anyway."""
        assert job.guild_id is not None
        try:
            lacking = await missing_in(self.bot, job.guild_id, job.channel_id)
        except (discord.HTTPException, aiohttp.ClientError) as problem:
            log.warning("could not read the bot's permissions in %s: %s", job.channel_id, problem)
            lacking = []
        await self.bot.channel_problems.note(
            job.guild_id, job.channel_id, lacking, self.bot.clock()
        )
        locale = job.locale
        text = tr(
            locale,
            "Your image was made, and counts as a generation, but the bot may not post it in "
            "<#{channel}>: it lacks {permissions} there. A server admin can allow it for the "
            "bot's role; they see it in /status too.",
            channel=job.channel_id,
            permissions=", ".join(tr(locale, name) for name in lacking)
            or tr(locale, "a permission it needs"),
        )
        if token_alive(self.bot, job):
            await remove_card(self.bot, job)
            await interaction_webhook(self.bot, job).send(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        dm = await self.bot.create_dm(discord.Object(id=job.requester_id))
        await dm.send(text, allowed_mentions=NO_MENTIONS, nonce=_nonce(job, "fail"))

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
        if options.expression is not None:
            expression = EXPRESSION_NAMES.get(options.expression, options.expression)
            embed.add_field(name=tr(locale, "Expression"), value=tr(locale, expression))
        if options.camera is not None:
            camera = CAMERA_NAMES.get(options.camera, options.camera)
            embed.add_field(name=tr(locale, "Camera"), value=tr(locale, camera))
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


def _nonce(job: Job, what: str = "pose") -> str:
    return f"{what}-{job.id}-{int(job.created_at) % 100_000}"


def _refused_by_channel(job: Job, error: Exception) -> bool:
    return (
        job.guild_id is not None
        and isinstance(error, discord.Forbidden)
        and error.code in REFUSED_BY_CHANNEL
    )


def _only_requester(job: Job) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(id=job.requester_id)]
    )
