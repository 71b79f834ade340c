"""The bot itself: wires settings, the HTTP session, the store, the API client and the cogs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.ext import commands

from bot.check.permissions import invite_url
from bot.domain.retention import Retention
from bot.engine.cooldowns import UserCooldowns
from bot.engine.runner import JobRunner
from bot.memory import MemoryBudget
from bot.metrics import Metrics
from bot.segmind import SegmindClient
from bot.settings import Settings
from bot.storage.channel_problems import ChannelProblems
from bot.storage.character_store import CharacterStore
from bot.storage.history import History
from bot.storage.job_queue import Limits
from bot.storage.job_store import JobStore
from bot.storage.retention import StorageKeeper
from bot.storage.server_store import ServerSettingsStore
from bot.storage.sheet_store import SheetStore
from bot.storage.story_store import StoryStore
from bot.storage.user_settings import UserSettingsStore
from bot.ui.cancel_button import CancelButton
from bot.ui.command_tree import PoseTree
from bot.ui.discord_presenter import DiscordPresenter
from bot.ui.i18n import CatalogTranslator
from bot.ui.intake import Intake
from bot.ui.replies import NO_MENTIONS
from bot.ui.result_buttons import ResultButton
from bot.ui.sheet_posting import SheetPoster, SheetRedoButton
from bot.version import bot_version

if TYPE_CHECKING:
    from bot.metrics_server import MetricsServer

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.pose",
    "cogs.characters",
    "cogs.admin",
    "cogs.settings",
    "cogs.history",
    "cogs.story",
    "cogs.help",
    "cogs.status",
    "cogs.sheet",
)
# Heroku-like hosts send SIGTERM and kill the process 30 s later.
SHUTDOWN_GRACE_SECONDS = 25.0
# Requests being taken in when a shutdown ends get this long to be stored.
INTAKE_GRACE_SECONDS = 5.0
HANDOVER_POLL_SECONDS = 0.5
COMMANDS_FACT = "commands"  # a fingerprint of the commands last registered with Discord


class PoseBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        store: JobStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # The bot never joins voice: no warnings about voice libraries it does not need.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Slash commands need no privileged intent; guilds gives the bot its channels.
        intents = discord.Intents.none()
        intents.guilds = True
        sharding = (
            {"shard_count": settings.shard_count, "shard_ids": settings.shard_ids}
            if settings.shard_count is not None
            else {}
        )
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=PoseTree,
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            **sharding,
        )
        self.settings = settings
        self._closed = asyncio.Event()
        # Set at the very end of a shutdown: new requests are left to another process.
        self.draining = False
        self._intakes: set[asyncio.Task[Any]] = set()
        self.http_session = session
        self.store = store
        self.clock = clock
        # One budget for every image this process downloads or decodes (bot/memory.py).
        self.memory = MemoryBudget.for_process(settings.memory_budget_mb)
        self.segmind = SegmindClient(
            session,
            api_key=settings.segmind_api_key,
            base_url=settings.segmind_base_url,
            model=settings.segmind_model,
            mode=settings.segmind_mode,
            timeout=settings.segmind_timeout_seconds,
            poll_interval=settings.segmind_poll_seconds,
            clock=clock,
            memory=self.memory,
        )
        self.cooldowns = UserCooldowns(settings.user_cooldown_seconds, store.database, clock=clock)
        self.servers = ServerSettingsStore(store.database)
        self.characters = CharacterStore(store.database, max_per_user=settings.user_max_characters)
        self.user_settings = UserSettingsStore(store.database)
        self.history = History(store.database)
        # Channels that refused a delivery, for /status.
        self.channel_problems = ChannelProblems(store.database)
        self.started_at = clock()
        self.sheets = SheetStore(store.database)
        self.stories = StoryStore(
            store.database,
            max_per_user=settings.user_max_stories,
            max_panels=settings.story_max_panels,
        )
        # The bot's wiring, in one place: the runner shows and delivers jobs through the
        # Discord presenter, and every way to ask for a pose goes through the intake.
        self.intake = Intake(self)
        # Counted always; served only with METRICS_PORT (see setup_hook).
        self.metrics = Metrics()
        self._metrics_server: MetricsServer | None = None
        self.runner = JobRunner(
            store,
            self.segmind,
            self.cooldowns,
            DiscordPresenter(self),
            image_input=settings.segmind_image_input,
            limits=Limits(
                max_concurrency=settings.segmind_max_concurrency,
                rpm=settings.segmind_rpm,
                lease_seconds=settings.job_lease_seconds,
            ),
            max_wait=settings.segmind_max_wait_seconds,
            runs_jobs=settings.runs_jobs,
            shows_queue=settings.has_gateway,
            low_credits_warning=settings.low_credits_warning,
            role=settings.bot_role,
            version=bot_version(),
            metrics=self.metrics,
            clock=clock,
        )
        self.storage_keeper = StorageKeeper(
            store,
            self.runner.queue,
            Retention.from_settings(settings),
            owner=self.runner.owner,
            alert=self._alert_owner,
            clock=clock,
        )
        self.sheet_poster = SheetPoster(self)

    async def setup_hook(self) -> None:
        # Persistent buttons: a card's or a result's buttons work after any restart.
        self.add_dynamic_items(CancelButton, ResultButton, SheetRedoButton)
        await self.load_commands()
        if self.settings.has_gateway:
            if self.application_id is not None:
                # Once a start, where whoever runs the bot looks first: how to add it.
                log.info("invite the bot with %s", invite_url(self.application_id))
            await self._sync_commands()
        await self.servers.start()
        await self.runner.start()
        self.storage_keeper.start()
        if self.settings.runs_jobs:
            self.sheet_poster.start()
        port = self.settings.metrics_port
        if port is not None:
            # Loaded here, not with the bot: most bots serve no metrics (bot/metrics_server.py).
            from bot.metrics_server import MetricsServer

            self._metrics_server = MetricsServer(
                self.metrics, self._read_metrics, self.settings.metrics_host, port
            )
            await self._metrics_server.start()

    async def _read_metrics(self) -> None:
        """What a scrape reads afresh: the shared queue's depth and the gateway's latency."""
        if self.settings.has_gateway:
            self.metrics.note_latency(self.latency)
        snapshot = await self.runner.queue.snapshot(self.clock(), with_jobs=False)
        self.metrics.queue_depth.set(len(snapshot.order))

    async def _sync_commands(self) -> None:
        """Register the commands with Discord, unless a process already registered these very
        ones (an overlapping restart, a second gateway)."""
        guild_id = self.settings.discord_guild_id
        # As sync sends them, translations included: a new translation is registered too.
        payload = await self.command_payloads()
        fingerprint = hashlib.sha256(
            json.dumps([guild_id, self.application_id, payload], sort_keys=True).encode()
        ).hexdigest()
        if await self.store.fact(COMMANDS_FACT) == fingerprint:
            log.info("commands already registered; not syncing them again")
            return
        await self._sync_to_discord(guild_id)
        await self.store.set_fact(COMMANDS_FACT, fingerprint)

    async def _sync_to_discord(self, guild_id: int | None) -> None:
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d command(s) globally (may take up to an hour to show)", len(synced))
            return
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d command(s) to server %s", len(synced), guild_id)

    async def load_commands(self) -> None:
        """The command extensions, loaded into the tree (the setup check loads them too)."""
        # Commands' names, descriptions and choices in every language the catalogs have.
        await self.tree.set_translator(CatalogTranslator())
        # A command missing would be a broken promise to users: an extension that fails to
        # load stops start-up, with its own error.
        for extension in EXTENSIONS:
            await self.load_extension(extension)

    async def command_payloads(self) -> list[dict[str, Any]]:
        """The commands as a sync sends them to Discord, translations included."""
        translator = self.tree.translator
        assert translator is not None
        return [
            await command.get_translated_payload(self.tree, translator)
            for command in self.tree.get_commands()
        ]

    async def on_ready(self) -> None:
        await self.runner.announce_gateway(self._shards())
        user_id = self.user.id if self.user else None
        log.info("logged in as %s (id %s) in %d server(s)", self.user, user_id, len(self.guilds))

    async def shutdown(self, grace: float = SHUTDOWN_GRACE_SECONDS, handover: float = 0.0) -> None:
        """Start no new API call, let running ones finish for `grace` seconds, then close.

        Requests keep being taken in and stored meanwhile, and for up to `handover` seconds
        until the next process answers Discord; requests half taken in are then finished.
        Queued jobs stay in the store for whichever process runs next (or runs alongside).
        """
        log.info("shutting down")
        await asyncio.gather(self.runner.shutdown(grace), self._await_successor(handover))
        # From here on, new requests are left to the other process; the ones being taken in
        # are finished and stored first.
        self.draining = True
        if self._intakes:
            await asyncio.wait(set(self._intakes), timeout=INTAKE_GRACE_SECONDS)
        await self.runner.stop_answering()
        await self.storage_keeper.close()
        await self.close()

    @contextlib.contextmanager
    def taking_in(self) -> Iterator[None]:
        """Around a request being taken in: a shutdown waits for it to be stored."""
        task = asyncio.current_task()
        if task is not None:
            self._intakes.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._intakes.discard(task)

    def _shards(self) -> str:
        ids = self.settings.shard_ids
        return "all" if ids is None else ",".join(map(str, ids))

    async def _await_successor(self, timeout: float) -> None:
        if timeout <= 0 or not self.settings.has_gateway:
            return
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            try:
                if await self.runner.successor_answers(self._shards()):
                    log.info("another process answers Discord now; handing over")
                    return
            except Exception as error:
                log.warning("cannot tell whether another process answers Discord: %s", error)
            await asyncio.sleep(HANDOVER_POLL_SECONDS)
        log.info("no other process answers Discord yet; stopping all the same")

    async def close(self) -> None:
        await self.storage_keeper.close()
        if self._metrics_server is not None:
            await self._metrics_server.close()
        await self.sheet_poster.close()
        await super().close()
        self._closed.set()

    async def is_owner(self, user: discord.abc.User) -> bool:
        """Whether `user` is the application's owner, or its team's owner: the one person the
        README names, whom the owner's alerts go to. discord.py's own check would accept
        every admin and developer of the team too."""
        if self.owner_id is None:
            application = await self.application_info()
            team = application.team
            self.owner_id = team.owner_id if team is not None else application.owner.id
        return user.id == self.owner_id

    async def _alert_owner(self, text: str) -> None:
        await self.runner.presenter.alert_owner(text)

    async def wait_closed(self) -> None:
        """Until `close`: what a worker, which has no gateway session to run, waits on."""
        await self._closed.wait()


class ShardedPoseBot(PoseBot, commands.AutoShardedBot):
    """The bot run as one or more of several Discord shards (SHARD_COUNT, SHARD_IDS)."""


def bot_class(settings: Settings) -> type[PoseBot]:
    return ShardedPoseBot if settings.shard_count is not None else PoseBot
