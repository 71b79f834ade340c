"""The /pose command and how its jobs look in Discord: a public card that becomes the result.

The card is the interaction's own reply. It shows the job's place in the queue with a Cancel
button, then "generating", then it is edited into the result. An edit is idempotent, so a
result delivered again after a crash still appears once. Failures are told privately.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.images import MAX_UPLOAD_BYTES, GeneratedImage, ImageRejected, fit_for_upload
from bot.images import prepare_reference as prepare_image
from bot.pose import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    MAX_GUIDANCE,
    MAX_PROMPT_LENGTH,
    MAX_SEED,
    MAX_STEPS,
    MIN_GUIDANCE,
    MIN_STEPS,
    InvalidRequest,
    PoseOptions,
    check_options,
)
from bot.replies import NO_MENTIONS, explain, report_unexpected, send_private
from bot.runner import WaitTooLong
from bot.segmind import SegmindError
from bot.store import CHARACTER, POSE, Job, NewJob, StoredImage

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

SIZE_CHOICES = [
    app_commands.Choice(name="Square (1024×1024)", value="square"),
    app_commands.Choice(name="Portrait (832×1216)", value="portrait"),
    app_commands.Choice(name="Landscape (1216×832)", value="landscape"),
]
# Interaction tokens live 15 minutes; keep a margin for the last call to get through.
TOKEN_LIFETIME_SECONDS = 15 * 60
TOKEN_MARGIN_SECONDS = 60
# Requests downloading and checking their images at once: bounds memory when many users
# upload large images together (two keep a 1000-job burst of 2 MB images under 120 MB).
MAX_PARALLEL_INTAKE = 2
INVALID_WEBHOOK_TOKEN = 50027  # Discord's code for an interaction token that is no longer valid


def _timestamp(epoch: float) -> str:
    return f"<t:{int(epoch + 0.999)}:R>"


def interaction_webhook(bot: PoseBot, job: Job) -> discord.Webhook:
    """The webhook behind a stored interaction token, built as discord.py builds
    `Interaction.followup` (an application webhook, so it may send private messages),
    so that a job can be shown and delivered after a restart too."""
    data: Any = {"id": job.application_id, "type": 3, "token": job.token}
    return discord.Webhook.from_state(data=data, state=bot._connection)


class CancelButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pose:cancel:(?P<id>\d+)"):
    """Cancels a queued job; only its requester may. Works after a restart (id in custom_id)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
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

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        job = bot.runner.job(self.job_id) or await bot.store.job(self.job_id)
        if job is None or job.requester_id != interaction.user.id:
            await send_private(interaction, "Only the person who asked for this can cancel it.")
            return
        if not await bot.runner.cancel(self.job_id):
            await send_private(interaction, "It has already started, so it cannot be cancelled.")
            return
        await interaction.response.edit_message(
            content="🚫 Cancelled. Nothing was charged.", view=None, allowed_mentions=NO_MENTIONS
        )


def _cancel_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job_id))
    return view


class DiscordPresenter:
    """Shows jobs in Discord, through the interaction while its token lives, then the channel."""

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    async def show_queued(
        self, job: Job, position: int, starts_at: float, *, resumed: bool
    ) -> None:
        note = "🔄 The bot restarted; your request kept its place.\n" if resumed else ""
        now = self.bot.clock()
        when = "any moment now" if starts_at <= now + 5 else _timestamp(starts_at)
        await self._edit_card(
            job,
            content=f"{note}⏳ Queued: position {position}, should start {when}.",
            view=_cancel_view(job.id),
        )

    async def show_running(self, job: Job, *, resumed: bool) -> None:
        note = "🔄 The bot restarted; your image is still being made.\n" if resumed else ""
        await self._edit_card(
            job,
            content=f"{note}🎨 Generating… started {_timestamp(self.bot.clock())}; "
            "this usually takes about 40 seconds.",
            view=None,
        )

    async def show_waiting(self, job: Job, until: float) -> None:
        await self._edit_card(
            job,
            content=f"⏳ The image service is busy; retrying {_timestamp(until)}.",
            view=_cancel_view(job.id),
        )

    async def show_interrupted(self, job: Job) -> None:
        await self._edit_card(
            job,
            content="🔄 The bot is restarting; this request keeps its place and resumes shortly.",
            view=None,
        )

    async def deliver(self, job: Job, image: GeneratedImage) -> int:
        fitted = await asyncio.to_thread(fit_for_upload, image, job.upload_limit)
        extension = "jpg" if fitted.format == "jpeg" else fitted.format
        filename = f"pose-{job.options.seed}.{extension}"
        embed = self._embed(job, filename)
        if self._token_alive(job) and job.status_message_id is not None:
            try:
                # Editing the card is idempotent: delivering twice still shows one result.
                await interaction_webhook(self.bot, job).edit_message(
                    job.status_message_id,
                    content=None,
                    embed=embed,
                    attachments=[_file(fitted, filename)],
                    view=None,
                    allowed_mentions=NO_MENTIONS,
                )
                return job.status_message_id
            except discord.NotFound:
                pass  # the card was deleted: post the result in the channel instead
            except discord.HTTPException as error:
                if error.code != INVALID_WEBHOOK_TOKEN:
                    raise
        message = await self._channel(job).send(
            f"<@{job.requester_id}>, your pose is ready.",
            embed=embed,
            file=_file(fitted, filename),
            allowed_mentions=_only_requester(job),
            # Discord drops a second message with the same nonce: a resend after a crash
            # between posting and recording the post does not show the result twice.
            nonce=f"pose-{job.id}-{int(job.created_at) % 100_000}",
        )
        return message.id

    async def report_failure(self, job: Job, error: Exception) -> None:
        text = self._failure_text(job, error)
        if self._token_alive(job):
            webhook = interaction_webhook(self.bot, job)
            if job.status_message_id is not None:
                try:
                    await webhook.delete_message(job.status_message_id)
                except discord.HTTPException as problem:
                    log.warning("could not remove the card of job %s: %s", job.id, problem)
            await webhook.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        await self._channel(job).send(
            f"<@{job.requester_id}> {text}", allowed_mentions=_only_requester(job)
        )

    def _failure_text(self, job: Job, error: Exception) -> str:
        if isinstance(error, WaitTooLong):
            return (
                "The image service is limiting how often the bot may call it. "
                f"Please try again {_timestamp(error.until)}; nothing was charged."
            )
        if isinstance(error, SegmindError | ImageRejected | InvalidRequest):
            return explain(error)
        if isinstance(error, discord.HTTPException):
            return "Your image was made but could not be posted here: " + error.text[:200]
        return report_unexpected(error, f"job {job.id}")

    def _embed(self, job: Job, filename: str) -> discord.Embed:
        options = job.options
        width, height = options.dimensions
        embed = discord.Embed(description=options.prompt, colour=discord.Colour.blurple())
        embed.add_field(name="Seed", value=f"`{options.seed}`")
        embed.add_field(name="Steps", value=str(options.steps))
        embed.add_field(name="Guidance", value=f"{options.guidance:g}")
        embed.add_field(name="Size", value=f"{options.size} {width}×{height}")
        elapsed = self.bot.clock() - job.created_at
        embed.add_field(name="Time", value=f"{elapsed:.0f} s")
        embed.add_field(name="Requested by", value=f"<@{job.requester_id}>")
        if options.negative_prompt:
            embed.add_field(name="Avoid", value=options.negative_prompt[:1024], inline=False)
        embed.set_image(url=f"attachment://{filename}")
        return embed

    async def _edit_card(self, job: Job, *, content: str, view: discord.ui.View | None) -> None:
        if not self._token_alive(job) or job.status_message_id is None:
            return  # the card can no longer be edited; the result will go to the channel
        await interaction_webhook(self.bot, job).edit_message(
            job.status_message_id, content=content, view=view, allowed_mentions=NO_MENTIONS
        )

    def _token_alive(self, job: Job) -> bool:
        return self.bot.clock() < job.token_expires_at - TOKEN_MARGIN_SECONDS

    def _channel(self, job: Job) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)


def _only_requester(job: Job) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(id=job.requester_id)]
    )


def _file(image: GeneratedImage, filename: str) -> discord.File:
    # A File is consumed by one upload, so every attempt gets a fresh one.
    return discord.File(io.BytesIO(image.data), filename=filename)


class PoseCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot
        self._intake = asyncio.Semaphore(MAX_PARALLEL_INTAKE)

    async def cog_load(self) -> None:
        self.bot.runner.presenter = DiscordPresenter(self.bot)
        self.bot.add_dynamic_items(CancelButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(CancelButton)

    @app_commands.command(name="pose")
    @app_commands.guild_only()
    @app_commands.describe(
        character="An image of your character",
        prompt="The character and the pose, in words",
        pose="A reference image of the pose (optional)",
        negative_prompt="What to avoid in the image",
        steps="Sampling steps, 1–70 (default 10)",
        guidance="How closely to follow the prompt, 1–15 (default 3)",
        size="Image size (default square)",
        seed="Seed for a reproducible result (random when left out)",
    )
    @app_commands.choices(size=SIZE_CHOICES)
    async def pose(
        self,
        interaction: discord.Interaction,
        character: discord.Attachment,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_LENGTH],
        pose: discord.Attachment | None = None,
        negative_prompt: app_commands.Range[str, 1, MAX_PROMPT_LENGTH] | None = None,
        steps: app_commands.Range[int, MIN_STEPS, MAX_STEPS] = DEFAULT_STEPS,
        guidance: app_commands.Range[float, MIN_GUIDANCE, MAX_GUIDANCE] = DEFAULT_GUIDANCE,
        size: app_commands.Choice[str] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
    ) -> None:
        """Pose your character: attach its image and describe the pose."""
        refusal = self._refusal(interaction.user.id)
        if refusal is None:
            try:
                options = check_options(
                    prompt=prompt,
                    negative_prompt=negative_prompt,
                    seed=seed,
                    steps=steps,
                    guidance=guidance,
                    size=size.value if size else "square",
                )
            except InvalidRequest as error:
                refusal = str(error)
        if refusal is not None:
            await send_private(interaction, refusal)
            return
        user_id = interaction.user.id
        # Taken with no await since the check: a double click cannot queue two jobs.
        self.bot.cooldowns.start(user_id)
        try:
            await interaction.response.defer(thinking=True)
            # Past the deferral, requests take turns: during a burst every user gets the
            # deferral first, and only a few large images are in memory at once.
            async with self._intake:
                card = await interaction.edit_original_response(content="🔍 Checking your image…")
                images = [await self._load(character, CHARACTER, "The character image")]
                if pose is not None:
                    images.append(await self._load(pose, POSE, "The pose image"))
            if not self.bot.runner.accepting:
                raise InvalidRequest("The bot is restarting. Please try again in a minute.")
            await self.bot.runner.submit(self._new_job(interaction, card.id, options), images)
        except (ImageRejected, InvalidRequest) as error:
            self.bot.cooldowns.refund(user_id)
            await self._refuse_after_defer(interaction, str(error))
        except Exception:
            self.bot.cooldowns.refund(user_id)
            raise

    def _refusal(self, user_id: int) -> str | None:
        """Why this user may not queue a job now, checked before anything is downloaded."""
        runner = self.bot.runner
        if not runner.accepting:
            return "The bot is restarting. Please try again in a minute."
        until = self.bot.cooldowns.until(user_id)
        if until is not None:
            return f"You can start your next generation {_timestamp(until)}."
        limit = self.bot.settings.user_max_queued
        if runner.queued_count(user_id) >= limit:
            first = runner.first_queued(user_id)
            position = runner.position(first) if first is not None else None
            return (
                f"You already have {limit} requests waiting (the first is at position "
                f"{position}). Please wait for one to start."
            )
        reopens_at = runner.gate.reopens_at
        max_wait = self.bot.settings.segmind_max_wait_seconds
        if reopens_at is not None and reopens_at - self.bot.clock() > max_wait:
            return (
                "The image service is limiting how often the bot may call it. "
                f"Please try again {_timestamp(reopens_at)}."
            )
        return None

    async def _load(self, attachment: discord.Attachment, role: str, label: str) -> StoredImage:
        if attachment.size > MAX_UPLOAD_BYTES:
            raise ImageRejected(
                f"{label} is {attachment.size / 2**20:.1f} MiB; the limit is 10 MiB."
            )
        try:
            data = await attachment.read()
        except discord.HTTPException:
            raise ImageRejected(
                f"{label} could not be downloaded from Discord; please attach it again."
            ) from None
        # Decoding takes a while: off the event loop, so other users get their replies.
        image = await asyncio.to_thread(prepare_image, data, label=label)
        return StoredImage(
            role, image.format, image.width, image.height, image.data, attachment.url
        )

    def _new_job(
        self, interaction: discord.Interaction, card_id: int, options: PoseOptions
    ) -> NewJob:
        now = self.bot.clock()
        return NewJob(
            requester_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            application_id=interaction.application_id,
            interaction_id=interaction.id,
            token=interaction.token,
            token_expires_at=now + TOKEN_LIFETIME_SECONDS,
            status_message_id=card_id,
            upload_limit=interaction.filesize_limit,
            options=options,
            created_at=now,
        )

    async def _refuse_after_defer(self, interaction: discord.Interaction, text: str) -> None:
        """After a public deferral, a private answer means removing the public card first."""
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as error:
            log.warning("could not remove the card of interaction %s: %s", interaction.id, error)
        await send_private(interaction, text)


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(PoseCog(bot))
