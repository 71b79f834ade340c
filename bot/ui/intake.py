"""Taking a request in: every way to ask for a pose (/pose, "Pose this character", the result
buttons) goes through `Intake.start_request` (or `start_job`): the checks that cost nothing, an
immediate deferral, then what reads the database (the request itself, the server's rules and
quotas), the images, the store and the queue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.domain.characters import Character
from bot.domain.images import ImageRejected
from bot.domain.pose_defaults import PoseDefaults, resolve_options
from bot.domain.pose_request import MAX_PROMPT_LENGTH, InvalidRequest, PoseOptions
from bot.domain.quotas import LATER, OverQuota, Refusal, daily_quotas, rules_for
from bot.domain.server_rules import ServerSettings, blocked_word_in, negative_prompt_for
from bot.storage.cooldown_store import CoolingDown
from bot.storage.job_store import CHARACTER, POSE, NewJob, StoredImage
from bot.ui import views
from bot.ui.files import download_image
from bot.ui.i18n import locale_of, mark, public_locale, tr
from bot.ui.message_limits import CHANNELS, show_list
from bot.ui.replies import (
    ALREADY_ACKNOWLEDGED,
    NO_MENTIONS,
    send_private,
    timestamp,
    user_text,
)

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)

TOKEN_LIFETIME_SECONDS = 15 * 60
# Requests downloading and checking their images at once. What the decoding holds is bounded
# by the process's memory budget (bot/memory.py); this bounds the cleaned images waiting to be
# stored (two keep a 1000-job burst of 2 MB images under 120 MB).
MAX_PARALLEL_INTAKE = 2
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")

THE_CHARACTER_IMAGE = mark("The character image")
THE_POSE_IMAGE = mark("The pose image")

ImageSource = Callable[[], Awaitable[list[StoredImage]]]


@dataclasses.dataclass(frozen=True)
class Request:
    """What a way of asking wants made: the options, its images, the saved character posed."""

    options: PoseOptions
    images: ImageSource
    character_id: int | None = None


# Builds the request once the interaction is deferred: whatever it reads from the database
# (the user's defaults, a saved character) comes after Discord's 3 s are safe. It raises
# InvalidRequest, written for the user, when the request cannot be made.
RequestSource = Callable[[], Awaitable[Request]]


class Intake:
    """Built once by the bot; the cogs and the result buttons hand it their requests."""

    def __init__(self, bot: PoseBot) -> None:
        self._bot = bot
        self._turns = asyncio.Semaphore(MAX_PARALLEL_INTAKE)
        # How the buttons that defer before reading their job deferred, by interaction id.
        self._deferred_privately: dict[int, bool] = {}

    async def start_job(
        self,
        interaction: discord.Interaction,
        options: PoseOptions,
        images: ImageSource,
        *,
        parent_job_id: int | None = None,
        character_id: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> None:
        """Queue a request for whoever caused `interaction`, if they may make one now.
        `character_id` names the saved character it poses, if any. `guild_id` and `channel_id`
        say where it counts, when not where `interaction` came from: a result's button passes
        its result's, so that a press in a direct message keeps its server's rules."""
        request = Request(options, images, character_id)

        async def given() -> Request:
            return request

        await self.start_request(
            interaction,
            given,
            parent_job_id=parent_job_id,
            guild_id=guild_id,
            channel_id=channel_id,
        )

    async def start_request(
        self,
        interaction: discord.Interaction,
        make_request: RequestSource,
        *,
        parent_job_id: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
    ) -> None:
        """Queue the request `make_request` builds after the deferral, if the user may make
        one now (`guild_id` and `channel_id` as in `start_job`)."""
        if self._bot.draining:
            return  # this process is about to exit: the next one answers it
        place = (guild_id, channel_id) if guild_id else (interaction.guild_id, None)
        with self._bot.taking_in():
            await self._take_in(interaction, make_request, parent_job_id, place)

    async def _take_in(
        self,
        interaction: discord.Interaction,
        make_request: RequestSource,
        parent_job_id: int | None,
        place: tuple[int | None, int | None],
    ) -> None:
        refusal = await self.refusal(interaction.user.id, locale_of(interaction))
        if refusal is not None:
            if interaction.response.is_done():
                await self._refuse_after_defer(interaction, refusal)
            else:
                await send_private(interaction, refusal)
            return
        user_id = interaction.user.id
        guild_id, channel_id = place
        cooldowns = self._bot.cooldowns
        # Taken with no await since the check: a double click is refused at once, here.
        cooldowns.start(user_id, interaction.id)
        card: discord.WebhookMessage | None = None
        try:
            # Nothing reads the database before the deferral: Discord wants it within 3 s,
            # and a database in a failover (or a burst of requests) may take longer.
            # A button that deferred before reading its job chose already: as privately as
            # what it came from (a /history page, a private result).
            chosen = self._deferred_privately.pop(interaction.id, None)
            deferred_private = (
                chosen if chosen is not None else self._private_as_last_read(guild_id)
            )
            if not await self._defer(interaction, ephemeral=deferred_private):
                return  # another process of the bot answered it, and takes care of it
            # Past the deferral, requests take turns: during a burst every user gets the
            # deferral first (the reads and image checks of a few requests at a time leave
            # the event loop to the deferrals), and only a few large images are in memory.
            async with self._turns:
                server = await self._server(guild_id)
                if chosen:
                    server = dataclasses.replace(server, private_results=True)
                request = await make_request()
                # These read the store, so they come after the deferral (before any cost).
                # The cooldown is read again when the job is stored, which decides.
                if (until := await cooldowns.stored_until(user_id)) is not None:
                    raise CoolingDown(until)
                await self._check_queue(user_id)
                options = await self._apply_server_rules(
                    interaction, server, request.options, channel_id or interaction.channel_id
                )
                card_locale = (
                    locale_of(interaction) if server.private_results else public_locale(interaction)
                )
                checking = tr(card_locale, "🔍 Checking your image…")
                if server.private_results == deferred_private:
                    card_id = (await interaction.edit_original_response(content=checking)).id
                else:
                    card = await self._replace_deferral(interaction, checking, server)
                    card_id = card.id
                stored = await request.images()
            job = self._new_job(
                interaction, card_id, options, parent_job_id, server, request.character_id
            )
            # Stored even while this process shuts down: whichever process runs next runs it.
            # The quotas and the cooldown checked above were a first filter: storing the job
            # decides them, in its own transaction.
            quotas = rules_for(self._bot.settings, server)
            try:
                await self._bot.runner.submit(
                    job, stored, quotas=quotas, cooldown_seconds=cooldowns.seconds
                )
            except OverQuota as over:
                raise _refused(over.refusal) from None
        except CoolingDown as cooling:
            # Started elsewhere (another process, a shard, before a restart): known here now.
            cooldowns.refund(user_id, interaction.id)
            cooldowns.hold_until(user_id, cooling.until)
            text = self.next_generation(locale_of(interaction), cooling.until)
            await self._refuse_after_defer(interaction, text, card)
        except (ImageRejected, InvalidRequest) as error:
            cooldowns.refund(user_id, interaction.id)
            await self._refuse_after_defer(
                interaction, user_text(locale_of(interaction), error), card
            )
        except Exception:
            cooldowns.refund(user_id, interaction.id)
            raise
        finally:
            cooldowns.settled(user_id)

    async def _server(self, guild_id: int | None) -> ServerSettings:
        """The server's settings (none outside a server)."""
        if not guild_id:
            return ServerSettings(0)
        return await self._bot.servers.get(guild_id)

    async def defer(self, interaction: discord.Interaction, *, ephemeral: bool) -> bool:
        """For a button that reads its job first: acknowledge at once, as `start_job` would."""
        deferred = await self._defer(interaction, ephemeral=ephemeral)
        if deferred:
            self._deferred_privately[interaction.id] = ephemeral
        return deferred

    async def refuse(self, interaction: discord.Interaction, text: str) -> None:
        """Tell the user privately why not, after `defer`."""
        self._deferred_privately.pop(interaction.id, None)
        await self._refuse_after_defer(interaction, text)

    def _private_as_last_read(self, guild_id: int | None) -> bool:
        """Whether to defer privately, from this process's memory only. A server it has not
        read yet defers publicly, as most servers show results and the card is then the
        deferral's own message; the rare miss (an admin just changed private_results, or the
        first request of a private server after a restart) is put right by
        `_replace_deferral` before the card shows anything."""
        known = self._bot.servers.cached(guild_id) if guild_id else None
        return known.private_results if known is not None else False

    async def _replace_deferral(
        self, interaction: discord.Interaction, content: str, server: ServerSettings
    ) -> discord.WebhookMessage:
        """The deferral's visibility turned out wrong for the server: the first followup
        would keep it, so the "thinking" message goes and the card is a followup of its own."""
        await interaction.delete_original_response()
        return await interaction.followup.send(
            content, ephemeral=server.private_results, wait=True, allowed_mentions=NO_MENTIONS
        )

    async def _defer(self, interaction: discord.Interaction, *, ephemeral: bool) -> bool:
        """Acknowledge at once; False when another process of the bot did first (while a
        restart overlaps, every process hears every interaction and the first answer wins)."""
        if interaction.response.is_done():
            return True  # a button deferred before reading its job
        try:
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        except discord.HTTPException as error:
            if error.code != ALREADY_ACKNOWLEDGED:
                raise
            log.info("interaction %s was answered by another process", interaction.id)
            return False
        return True

    async def _check_queue(self, user_id: int) -> None:
        limit = self._bot.settings.user_max_queued
        waiting = await self._bot.runner.queued_of(user_id)
        if len(waiting) >= limit:
            # The place takes a read of the whole queue: only a refusal shows it.
            first_position = await self._bot.runner.position(waiting[0])
            raise InvalidRequest(
                mark(
                    "You already have {limit} requests waiting (the first is at position "
                    "{position}). Please wait for one to start."
                ),
                limit=limit,
                position=first_position,
            )

    async def user_defaults(self, user_id: int) -> PoseDefaults:
        """The user's own defaults for what a request leaves out (/settings)."""
        return await self._bot.user_settings.get(user_id)

    @staticmethod
    def next_generation(locale: discord.Locale | str | None, until: float) -> str:
        return tr(locale, "You can start your next generation {when}.", when=timestamp(until))

    async def refusal(self, user_id: int, locale: discord.Locale | str | None) -> str | None:
        """Why this user may not queue a job now, in the language of `locale`: the checks made
        before the deferral, so they must be quick (memory, and the database only to confirm
        a cooldown this process believes in)."""
        until = await self._bot.cooldowns.refusal_until(user_id)
        if until is not None:
            return self.next_generation(locale, until)
        reopens_at = self._bot.runner.gate_reopens_at
        max_wait = self._bot.settings.segmind_max_wait_seconds
        if reopens_at is not None and reopens_at - self._bot.clock() > max_wait:
            return tr(
                locale,
                "The image service is limiting how often the bot may call it. "
                "Please try again {when}.",
                when=timestamp(reopens_at),
            )
        return None

    async def server_rules_applied(
        self,
        interaction: discord.Interaction,
        server: ServerSettings,
        options: PoseOptions,
    ) -> PoseOptions:
        """The server's rules for a request that is not one job (a character's sheet)."""
        return await self._apply_server_rules(interaction, server, options, interaction.channel_id)

    async def _apply_server_rules(
        self,
        interaction: discord.Interaction,
        server: ServerSettings,
        options: PoseOptions,
        channel_id: int | None,
    ) -> PoseOptions:
        """The server's rules and the caps; returns the options with the negative prompt the
        server adds. Raises InvalidRequest, written for the user, when the request may not run."""
        if not server.enabled:
            raise InvalidRequest(mark("This server's admins have turned the bot off here."))
        if server.channels and channel_id not in server.channels:
            mentions = [f"<#{channel}>" for channel in server.channels]
            places = show_list(mentions, noun=CHANNELS, locale=locale_of(interaction)).text
            raise InvalidRequest(
                mark("In this server, /pose can be used in {places}."), places=places
            )
        word = blocked_word_in([options.prompt, options.negative_prompt], server.blocked_words)
        if word is not None:
            raise InvalidRequest(
                mark("This server does not allow the word “{word}” in prompts."), word=word
            )
        over = await self._over_a_cap(interaction.user.id, server)
        if over is not None:
            raise _refused(over)
        channel = interaction.channel
        age_restricted = isinstance(channel, discord.TextChannel) and channel.is_nsfw()
        negative = negative_prompt_for(
            server, options.negative_prompt, age_restricted=age_restricted
        )
        return dataclasses.replace(options, negative_prompt=negative)

    async def _over_a_cap(self, user_id: int, server: ServerSettings) -> Refusal | None:
        """The daily quotas (bot/domain/quotas.py decides them, for /usage too)."""
        bot = self._bot
        quotas = await daily_quotas(bot.store.ledger, bot.settings, server, user_id, bot.clock())
        return quotas.refusal

    def attachments(
        self, character: discord.Attachment, pose: discord.Attachment | None
    ) -> ImageSource:
        async def load() -> list[StoredImage]:
            images = [await self.load_attachment(character, CHARACTER, THE_CHARACTER_IMAGE)]
            if pose is not None:
                images.append(await self.load_attachment(pose, POSE, THE_POSE_IMAGE))
            return images

        return load

    async def load_attachment(
        self, attachment: discord.Attachment, role: str, label: str
    ) -> StoredImage:
        bot = self._bot
        image = await download_image(attachment, label, bot.memory, bot.http_session)
        return StoredImage.of(role, image, attachment.url)

    def _new_job(
        self,
        interaction: discord.Interaction,
        card_id: int,
        options: PoseOptions,
        parent_job_id: int | None,
        server: ServerSettings,
        character_id: int | None,
    ) -> NewJob:
        now = self._bot.clock()
        return NewJob(
            requester_id=interaction.user.id,
            guild_id=server.guild_id or None,  # a button's: its result's server
            channel_id=interaction.channel_id or 0,
            application_id=interaction.application_id,
            interaction_id=interaction.id,
            token=interaction.token,
            token_expires_at=now + TOKEN_LIFETIME_SECONDS,
            status_message_id=card_id,
            upload_limit=interaction.filesize_limit,
            options=options,
            created_at=now,
            parent_job_id=parent_job_id,
            cost=self._bot.settings.cost_per_generation_usd,
            private=server.private_results,
            locale=locale_of(interaction).value,
            guild_locale=public_locale(interaction).value,
            character_id=character_id,
        )

    async def _refuse_after_defer(
        self,
        interaction: discord.Interaction,
        text: str,
        card: discord.WebhookMessage | None = None,
    ) -> None:
        """After a public deferral, a private answer means removing the public card first
        (`card`, when it replaced the deferral's message)."""
        try:
            if card is not None:
                await card.delete()
            else:
                await interaction.delete_original_response()
        except discord.HTTPException as error:
            log.warning("could not remove the card of interaction %s: %s", interaction.id, error)
        await send_private(interaction, text)


class PoseThisModal(views.Modal):
    """Asks for the pose when a character is taken from a message's image."""

    def __init__(
        self, intake: Intake, attachment: discord.Attachment, locale: discord.Locale
    ) -> None:
        super().__init__(title=tr(locale, "Pose this character"))
        self.intake = intake
        self.attachment = attachment
        self.prompt: discord.ui.TextInput[PoseThisModal] = discord.ui.TextInput(
            label=tr(locale, "Describe the character and the pose"),
            style=discord.TextStyle.paragraph,
            max_length=MAX_PROMPT_LENGTH,
            custom_id="prompt",
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        # The form asks for the words alone: the rest is the user's defaults (/settings).
        defaults = await self.intake.user_defaults(interaction.user.id)
        options = resolve_options(defaults, prompt=self.prompt.value)
        await self.intake.start_job(
            interaction, options, self.intake.attachments(self.attachment, None)
        )


def _refused(refusal: Refusal) -> InvalidRequest:
    """A quota's refusal, as the private answer every other refusal of a request is."""
    when = timestamp(refusal.frees_at) if refusal.frees_at is not None else LATER
    return InvalidRequest(refusal.reason, when=when, **refusal.values)


def described(options: PoseOptions, character: Character) -> PoseOptions:
    """A saved character's look goes before the prompt, so the outfit stays the same."""
    if not character.description:
        return options
    return dataclasses.replace(options, prompt=f"{character.description}, {options.prompt}")


def saved_image(
    character: Character, pose: discord.Attachment | None, intake: Intake
) -> ImageSource:
    async def load() -> list[StoredImage]:
        # Already checked and cleaned when it was saved; it has no URL of its own. It stays
        # its owner's upload, which their /forget-me takes out of this job too.
        images = [StoredImage.of(CHARACTER, character.image, uploaded_by=character.owner_id)]
        if pose is not None:
            images.append(await intake.load_attachment(pose, POSE, THE_POSE_IMAGE))
        return images

    return load


def looks_like_image(attachment: discord.Attachment) -> bool:
    content_type = attachment.content_type or ""
    return content_type.startswith("image/") or attachment.filename.lower().endswith(
        IMAGE_EXTENSIONS
    )
