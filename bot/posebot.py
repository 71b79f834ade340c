"""The bot itself: wires settings, the HTTP session, the store, the API client and the cogs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import aiohttp
import discord
from discord.ext import commands

from bot.characters import CharacterStore
from bot.cooldowns import UserCooldowns
from bot.replies import NO_MENTIONS
from bot.runner import JobRunner
from bot.segmind import SegmindClient
from bot.servers import ServerSettingsStore
from bot.settings import Settings
from bot.store import Store
from bot.tree import PoseTree

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.cards", "cogs.pose", "cogs.characters", "cogs.admin")
# Heroku-like hosts send SIGTERM and kill the process 30 s later.
SHUTDOWN_GRACE_SECONDS = 25.0


class PoseBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # The bot never joins voice: no warnings about voice libraries it does not need.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Slash commands need no privileged intent; guilds gives the bot its channels.
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=PoseTree,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
        )
        self.settings = settings
        self.http_session = session
        self.store = store
        self.clock = clock
        self.segmind = SegmindClient(
            session,
            api_key=settings.segmind_api_key,
            base_url=settings.segmind_base_url,
            model=settings.segmind_model,
            mode=settings.segmind_mode,
            timeout=settings.segmind_timeout_seconds,
            poll_interval=settings.segmind_poll_seconds,
            clock=clock,
        )
        self.cooldowns = UserCooldowns(settings.user_cooldown_seconds, clock=clock)
        self.servers = ServerSettingsStore(store.database)
        self.characters = CharacterStore(store.database, max_per_user=settings.user_max_characters)
        self.runner = JobRunner(
            store,
            self.segmind,
            self.cooldowns,
            image_input=settings.segmind_image_input,
            max_concurrency=settings.segmind_max_concurrency,
            rpm=settings.segmind_rpm,
            max_wait=settings.segmind_max_wait_seconds,
            low_credits_warning=settings.low_credits_warning,
            clock=clock,
        )

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except commands.ExtensionError:
                log.exception("failed to load extension %s", extension)
        await self._sync_commands()
        # After the cogs: resumed jobs are shown and delivered through them.
        await self.runner.start()

    async def _sync_commands(self) -> None:
        guild_id = self.settings.discord_guild_id
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d command(s) globally (may take up to an hour to show)", len(synced))
            return
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d command(s) to server %s", len(synced), guild_id)

    async def on_ready(self) -> None:
        user_id = self.user.id if self.user else None
        log.info("logged in as %s (id %s) in %d server(s)", self.user, user_id, len(self.guilds))

    async def shutdown(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop taking jobs, let running ones finish for `grace` seconds, then close.

        Queued jobs stay in the store and resume on the next start.
        """
        log.info("shutting down")
        await self.runner.shutdown(grace)
        await self.close()
