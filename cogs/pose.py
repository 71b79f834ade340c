"""The /pose command: from a user's character image and pose text to a posted result."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cooldowns import Refusal
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
    ImageInput,
    InvalidRequest,
    PoseOptions,
    PoseRequest,
    check_options,
)
from bot.replies import NO_MENTIONS, explain, report_unexpected, send_private
from bot.scheduler import WaitTooLong
from bot.segmind import Generation, SegmindError

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

SIZE_CHOICES = [
    app_commands.Choice(name="Square (1024×1024)", value="square"),
    app_commands.Choice(name="Portrait (832×1216)", value="portrait"),
    app_commands.Choice(name="Landscape (1216×832)", value="landscape"),
]
SIZE_LABELS = {choice.value: choice.name for choice in SIZE_CHOICES}
# Interaction tokens live 15 minutes; past this, results go to the channel instead.
TOKEN_USABLE_SECONDS = 14 * 60
INVALID_WEBHOOK_TOKEN = 50027  # Discord's code for an interaction token that is no longer valid


def _timestamp(epoch: float) -> str:
    return f"<t:{int(epoch + 0.999)}:R>"


def _refusal_text(refusal: Refusal) -> str:
    if refusal.reason == "running":
        return "You already have a generation running. Please wait for it to finish."
    return f"You can start your next generation {_timestamp(refusal.until or 0)}."


class PoseJob:
    """One /pose from acknowledgement to result, shown to its requester as it goes."""

    def __init__(
        self,
        bot: PoseBot,
        interaction: discord.Interaction,
        options: PoseOptions,
        character: discord.Attachment,
        pose: discord.Attachment | None,
    ) -> None:
        self.bot = bot
        self.interaction = interaction
        self.options = options
        self.character = character
        self.pose = pose
        self.received_at = bot.clock()
        self._shown = ""
        self._token_dead = False  # Discord said the token is invalid before its 15 minutes

    async def run(self) -> None:
        user_id = self.interaction.user.id
        refund = True  # the cooldown is given back unless the API may have billed
        try:
            request = await self._prepare()
            self.bot.limits.start_cooldown(user_id)
            body = request.api_body(self.bot.settings.segmind_image_input)
            generation = await self.bot.scheduler.run(body, self)
            refund = False
            message = await self._deliver(generation)
            await self._show(f"✅ Done: {self._link(message)}")
        except (ImageRejected, InvalidRequest) as error:
            await self._show(explain(error))
        except WaitTooLong as error:
            refund = False
            self.bot.limits.hold_until(user_id, error.until)
            await self._show(
                "The image service is limiting how often the bot may call it. "
                f"Please try again {_timestamp(error.until)}; nothing was charged."
            )
        except SegmindError as error:
            refund = not error.may_have_billed
            self._log_upstream(error)
            await self._show(explain(error))
        except asyncio.CancelledError:
            await self._show(
                "The bot had to restart before your image was ready, so it could not be "
                "delivered. Please run /pose again."
            )
            raise
        except Exception as error:
            await self._show(report_unexpected(error, f"/pose job {self.interaction.id}"))
        finally:
            self.bot.limits.finish(user_id, refund=refund)

    async def _prepare(self) -> PoseRequest:
        # This first edit also turns "thinking…" into a message of its own, so the public
        # result can follow as a separate (non-private) message.
        await self._show("🔍 Checking your image…")
        character = await self._load(self.character, "The character image")
        pose = await self._load(self.pose, "The pose image") if self.pose else None
        return PoseRequest(self.options, character, pose)

    async def _load(self, attachment: discord.Attachment, label: str) -> ImageInput:
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
        # Decoding a large image takes a while: keep the event loop free for other users.
        image = await asyncio.to_thread(prepare_image, data, label=label)
        return ImageInput(image, attachment.url)

    # Progress, as the scheduler reports it.
    async def waiting_for_slot(self) -> None:
        await self._show("⏳ Waiting for a free slot: other generations are running.")

    async def waiting_for_api(self, until: float) -> None:
        await self._show(f"⏳ The image service is busy; retrying {_timestamp(until)}.")

    async def generating(self) -> None:
        await self._show(
            f"🎨 Generating… started {_timestamp(self.bot.clock())}; "
            "this usually takes about 40 seconds."
        )

    async def _show(self, content: str) -> None:
        """Edit the requester's private status message; a dead token only loses the status."""
        if content == self._shown or not self._token_usable():
            return
        self._shown = content
        try:
            await self.interaction.edit_original_response(
                content=content, allowed_mentions=NO_MENTIONS
            )
        except discord.HTTPException as error:
            self._token_dead = self._token_dead or error.code == INVALID_WEBHOOK_TOKEN
            log.warning("could not update the status of job %s: %s", self.interaction.id, error)

    def _link(self, message: discord.Message) -> str:
        # A followup comes back without its guild, so its own jump_url would say "@me".
        guild = self.interaction.guild_id or "@me"
        return f"https://discord.com/channels/{guild}/{message.channel.id}/{message.id}"

    def _token_usable(self) -> bool:
        age = self.bot.clock() - self.received_at
        return not self._token_dead and age < TOKEN_USABLE_SECONDS

    async def _deliver(self, generation: Generation) -> discord.Message:
        """Post the result publicly: as a followup while the token lives, else in the channel."""
        limit = self.interaction.filesize_limit
        image = await asyncio.to_thread(fit_for_upload, generation.image, limit)
        filename = f"pose-{self.options.seed}.{'jpg' if image.format == 'jpeg' else image.format}"
        embed = self._embed(filename)
        log.info(
            "job %s done for user %s: seed=%s %s",
            self.interaction.id,
            self.interaction.user.id,
            self.options.seed,
            " ".join(f"{key}={value}" for key, value in generation.usage.items()),
        )
        if self._token_usable():
            try:
                return await self.interaction.followup.send(
                    embed=embed,
                    file=_file(image, filename),
                    allowed_mentions=NO_MENTIONS,
                    wait=True,
                )
            except discord.HTTPException as error:
                if error.code != INVALID_WEBHOOK_TOKEN:
                    raise
                self._token_dead = True
        channel = self.interaction.channel
        if not isinstance(channel, discord.abc.Messageable):
            raise RuntimeError("the interaction has no channel to post the result in")
        user = self.interaction.user
        return await channel.send(
            f"{user.mention}, your pose is ready.",
            embed=embed,
            file=_file(image, filename),
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=[user]),
        )

    def _embed(self, filename: str) -> discord.Embed:
        options = self.options
        user = self.interaction.user
        width, height = options.dimensions
        embed = discord.Embed(description=options.prompt, colour=discord.Colour.blurple())
        embed.set_author(name=f"Posed for {user.display_name}")
        embed.add_field(name="Seed", value=f"`{options.seed}`")
        embed.add_field(name="Steps", value=str(options.steps))
        embed.add_field(name="Guidance", value=f"{options.guidance:g}")
        embed.add_field(name="Size", value=f"{options.size} {width}×{height}")
        elapsed = self.bot.clock() - self.received_at
        embed.add_field(name="Time", value=f"{elapsed:.0f} s")
        embed.add_field(name="Requested by", value=user.mention)
        if options.negative_prompt:
            embed.add_field(name="Avoid", value=options.negative_prompt[:1024], inline=False)
        embed.set_image(url=f"attachment://{filename}")
        return embed

    def _log_upstream(self, error: SegmindError) -> None:
        # 401/403/404/406 need the owner: a bad key, permissions, model name or credits.
        level = logging.ERROR if error.status in (401, 403, 404, 406) else logging.WARNING
        log.log(
            level,
            "job %s failed: %s %s: %s",
            self.interaction.id,
            type(error).__name__,
            error.status,
            error.message,
        )


def _file(image: GeneratedImage, filename: str) -> discord.File:
    # A File is consumed by one upload, so every attempt gets a fresh one.
    return discord.File(io.BytesIO(image.data), filename=filename)


class PoseCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

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
        if not self.bot.jobs.accepting:
            await send_private(interaction, "The bot is restarting. Please try again in a minute.")
            return
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
            await send_private(interaction, str(error))
            return
        user_id = interaction.user.id
        refusal = self.bot.limits.check(user_id)
        if refusal is not None:
            await send_private(interaction, _refusal_text(refusal))
            return
        # Checked and marked with no await in between: a double click cannot start two jobs.
        self.bot.limits.begin(user_id)
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except BaseException:
            self.bot.limits.finish(user_id, refund=True)
            raise
        job = PoseJob(self.bot, interaction, options, character, pose)
        self.bot.jobs.spawn(job.run(), name=f"pose-{interaction.id}")


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(PoseCog(bot))
