"""A fake Discord on loopback, for running the real discord.py client in tests.

`FakeDiscord` is an aiohttp server on 127.0.0.1 that speaks the parts of Discord's protocol an
interactions bot uses: the REST API under ``/api/v10``, the gateway websocket under
``/gateway`` and a CDN under ``/cdn`` (and ``/media``) for attachments. The bot under test runs
unpatched; only three library class attributes are pointed at the fake (see `install`).

A test acts as Discord's users do: `invoke` a slash command (subcommands included), `press` a
button on a message, `submit_modal` the bot opened, type into an option (`autocomplete`), or
run a message context menu command (`invoke_message_command`) on a message the bot or a user
(`add_user_message`) posted. It can also make Discord fail: `channel_deleted`,
`channel_forbidden`, and answer the next requests of a route with a 5xx, a 429 or a dropped
connection (`faults`, see `DiscordFaults`).

The fake behaves like Discord where bots can get it wrong: one callback per interaction, of a
type allowed for it, within 3 s; followups only after a callback and only while the token
lives; the first followup after a deferral replaces the "thinking" message and keeps its
visibility; for a button press, ``@original`` is the message the button is on; uploads over the
interaction's limit, empty messages and anything over Discord's size limits (in every message,
modal, autocomplete answer and command sync; see tests/fakes/discord/limits.py) are refused with
Discord's codes; channel posts with ``enforce_nonce`` are deduplicated. Every live gateway
session receives every event, as on Discord, so a restarted bot gets a fresh READY and can
answer interactions that its predecessor received (tokens, not sessions, own interactions).
Everything the bot sends is recorded as `FakeInteraction` and `FakeMessage` objects.

Typical use::

    fake = FakeDiscord()
    await fake.start()
    fake.install()
    asyncio.create_task(bot.start("token"))
    await fake.wait_identified()
    image = fake.add_attachment("cat.png", png_bytes)
    interaction = await fake.invoke("pose", [{"name": "image", "type": 11, "value": image["id"]}],
                                    attachments=[image])
    await interaction.wait_for(lambda i: i.followups)
    ...
    await bot.close()
    fake.uninstall()
    await fake.close()
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from collections.abc import Awaitable, Callable

import discord.asset
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from tests.discord_address import API_PREFIX, point_discord_py_at
from tests.fakes.discord.actions import UserActions
from tests.fakes.discord.cdn import Cdn
from tests.fakes.discord.faults import DiscordFaults
from tests.fakes.discord.gateway import Gateway, _Session
from tests.fakes.discord.guilds import GuildRoutes
from tests.fakes.discord.limits import INVALID_FORM_BODY
from tests.fakes.discord.payloads import Payloads
from tests.fakes.discord.protocol import (
    DEFAULT_PERMISSIONS,
    DEFAULT_UPLOAD_LIMIT,
    JSON,
    MAX_REQUEST_BYTES,
    RecordedError,
    _ApiError,
    _Changes,
    _describe_predicate,
    _json,
    _Snowflakes,
    _StoredFile,
)
from tests.fakes.discord.records import FakeInteraction, FakeMessage
from tests.fakes.discord.rest import RestRoutes
from tests.fakes.discord.webhooks import InteractionRoutes

log = logging.getLogger(__name__)


class FakeDiscord(UserActions, Gateway, Payloads, RestRoutes, GuildRoutes, InteractionRoutes, Cdn):
    """Discord's REST API, gateway and CDN for one bot, one guild and one text channel."""

    APP_ID = 1_180_000_000_000_000_001
    BOT_USER_ID = 1_180_000_000_000_000_002
    GUILD_ID = 1_180_000_000_000_000_003
    CHANNEL_ID = 1_180_000_000_000_000_004
    # A second text channel of the guild, where nothing happens unless a test names it.
    OTHER_CHANNEL_ID = 1_180_000_000_000_000_009
    OWNER_ID = 1_180_000_000_000_000_005
    DEFAULT_USER_ID = 1_180_000_000_000_000_006
    BOT_NAME = "FakeBot"

    def __init__(self) -> None:
        # The server's language (its "preferred locale"), which Discord sends with every
        # interaction from it as guild_locale.
        self.guild_locale = "en-US"
        # Members of the team that owns the application, besides its owner (OWNER_ID), with
        # their team role ("admin", "developer", "read_only"); empty: owned by a person.
        self.team_members: dict[int, str] = {}
        self.synced_commands: list[JSON] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.channel_messages: list[FakeMessage] = []
        self.user_messages: list[FakeMessage] = []  # posted by tests, see add_user_message
        self.cdn_requests: list[str] = []
        # Files whose signed CDN links have run out: Discord answers 404 for them.
        self.expired_files: set[str] = set()
        self.requests: list[str] = []  # "METHOD /path" of every request, in order
        self.errors: list[RecordedError] = []
        self.identify_payload: JSON | None = None  # the latest IDENTIFY
        self.sessions_started = 0  # IDENTIFYs answered with READY: one per bot (re)start
        # The guild's upload limit, for messages posted outside an interaction.
        self.channel_upload_limit = DEFAULT_UPLOAD_LIMIT
        # Switches a test flips to make Discord fail. Deleted: the channel is gone, for its
        # routes and for interaction webhooks alike (404 10003). Forbidden: the bot lost its
        # permissions there, so channel routes answer 403 50013, but interaction responses,
        # which need no bot permissions, still work.
        self.channel_deleted = False
        self.channel_age_restricted = False  # the guild channel's "nsfw" flag
        self.channel_forbidden = False
        # The bot's token, once a test sets it: bot-token routes then answer any other with
        # 401, as Discord answers a wrong or reset token.
        self.bot_token: str | None = None
        # How the guild grants permissions: @everyone's, the bot's roles ({role id: its
        # permissions}, besides @everyone) and each channel's permission overwrites.
        self.everyone_permissions = DEFAULT_PERMISSIONS
        self.roles: dict[int, int] = {}
        self.bot_roles: list[int] = []
        self.channel_overwrites: dict[int, list[JSON]] = {}
        # The bot was invited without the applications.commands scope: its guild commands
        # answer 403 50001 Missing Access.
        self.commands_scope_missing = False
        # The gateway closes with 4014 (disallowed intents) on IDENTIFY.
        self.disallowed_intents = False
        # Time source for the nonce window; a test can replace it to step past five minutes.
        self.clock: Callable[[], float] = time.monotonic
        self.deduplicated_nonces = 0  # channel posts answered with an earlier message
        self._ids = _Snowflakes()
        self._changes = _Changes()
        # Discord failing as it does in production (5xx, 429, dropped connections): see
        # `DiscordFaults` in faults.py.
        self.faults = DiscordFaults(
            guild_channels=(self.CHANNEL_ID, self.OTHER_CHANNEL_ID), changed=self._changes.notify
        )
        self._commands: dict[int | None, list[JSON]] = {}  # by guild id, None = global
        self._by_token: dict[str, FakeInteraction] = {}
        self._messages: list[FakeMessage] = []
        self._nonces: dict[tuple[int, str], tuple[float, FakeMessage]] = {}
        self._files: dict[int, _StoredFile] = {}
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._sessions: dict[str, _Session] = {}
        self._send_lock = asyncio.Lock()
        self._identified = asyncio.Event()
        self._saved_library_values: tuple[str, yarl.URL, str] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        self._runner = web.AppRunner(self._build_app(), handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"fake Discord shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeDiscord.start() has not run yet")
        return f"http://127.0.0.1:{self._port}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    def install(self) -> None:
        """Point discord.py at the fake; `uninstall` puts the real addresses back."""
        if self._saved_library_values is None:
            self._saved_library_values = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
                discord.asset.Asset.BASE,
            )
        point_discord_py_at(self.base_url)

    def uninstall(self) -> None:
        if self._saved_library_values is None:
            return
        (
            discord.http.Route.BASE,
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            discord.asset.Asset.BASE,
        ) = self._saved_library_values
        self._saved_library_values = None

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self.faults.middleware, self._middleware],
            client_max_size=MAX_REQUEST_BYTES,
        )
        api = API_PREFIX
        routes = app.router
        routes.add_get(f"{api}/users/@me", self._get_current_user)
        routes.add_post(f"{api}/users/@me/channels", self._open_dm)
        routes.add_get(f"{api}/oauth2/applications/@me", self._get_application)
        routes.add_get(f"{api}/users/@me/guilds", self._get_my_guilds)
        routes.add_get(f"{api}/guilds/{{guild}}/channels", self._get_guild_channels)
        routes.add_get(f"{api}/guilds/{{guild}}/roles", self._get_guild_roles)
        routes.add_get(f"{api}/guilds/{{guild}}/members/{{user}}", self._get_guild_member)
        routes.add_get(f"{api}/gateway", self._get_gateway)
        routes.add_get(f"{api}/gateway/bot", self._get_gateway_bot)
        for path in (
            f"{api}/applications/{{app}}/commands",
            f"{api}/applications/{{app}}/guilds/{{guild}}/commands",
        ):
            routes.add_put(path, self._put_commands)
            routes.add_get(path, self._get_commands)
        routes.add_post(f"{api}/interactions/{{interaction}}/{{token}}/callback", self._callback)
        routes.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._create_followup)
        webhook_message = f"{api}/webhooks/{{app}}/{{token}}/messages/{{message}}"
        routes.add_get(webhook_message, self._get_webhook_message)
        routes.add_patch(webhook_message, self._edit_webhook_message)
        routes.add_delete(webhook_message, self._delete_webhook_message)
        routes.add_post(f"{api}/channels/{{channel}}/messages", self._create_channel_message)
        channel_message = f"{api}/channels/{{channel}}/messages/{{message}}"
        routes.add_patch(channel_message, self._edit_channel_message)
        routes.add_delete(channel_message, self._delete_channel_message)
        routes.add_get("/gateway", self._gateway)
        routes.add_get("/cdn/{path:.+}", self._cdn)
        routes.add_get("/media/{path:.+}", self._cdn)
        routes.add_route("*", "/{path:.*}", self._unknown_route)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        try:
            self._check_token(request)
            return await handler(request)
        except _ApiError as error:
            self._record_error(request, error.status, error.code, error.message, error.errors)
            return _json(error.body(), status=error.status)
        except Exception as error:
            # A 5xx would make discord.py retry for 16 s; a 4xx fails the test at once.
            log.exception("fake Discord failed on %s %s", request.method, request.path)
            message = f"fake Discord crashed: {error!r}"
            self._record_error(request, 400, 0, message)
            return _json({"message": message, "code": 0}, status=400)
        finally:
            self._changes.notify()

    def _check_token(self, request: web.Request) -> None:
        # Interaction callbacks and webhooks carry no token of the bot's: only bot routes do.
        given = request.headers.get("Authorization")
        if self.bot_token is not None and given is not None and given != f"Bot {self.bot_token}":
            raise _ApiError(401, 0, "401: Unauthorized")

    def _record_error(
        self,
        request: web.Request,
        status: int,
        code: int,
        message: str,
        errors: JSON | None = None,
    ) -> None:
        recorded = RecordedError(request.method, request.path, status, code, message, errors)
        self.errors.append(recorded)

    def invalid_bodies(self) -> list[RecordedError]:
        """The requests refused as Discord refuses a payload over its limits (50035)."""
        return [error for error in self.errors if error.code == INVALID_FORM_BODY]

    async def _unknown_route(self, request: web.Request) -> web.Response:
        raise _ApiError(404, 0, "404: Not Found")

    # -- test-facing API -----------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        await self._changes.wait_until(
            predicate, timeout, lambda: f"{_describe_predicate(predicate)}\n{self.describe()}"
        )

    def all_messages(self) -> list[FakeMessage]:
        """Every message the bot created, deleted ones included, in creation order."""
        return list(self._messages)

    def message(self, message_id: int) -> FakeMessage:
        """The bot's or a test user's message with this id, deleted or not."""
        found = self._find_message(message_id)
        if found is None:
            raise KeyError(f"the fake has no message {message_id}")
        return found

    def messages_with_files(self) -> list[FakeMessage]:
        """The bot's messages that still exist and carry at least one file, oldest first."""
        return [message for message in self._messages if message.files and not message.deleted]

    def describe(self) -> str:
        """A readable summary of what the fake has seen, for assertion messages."""
        live = sum(session.attached for session in self._sessions.values())
        switches = [
            name for name in ("channel_deleted", "channel_forbidden") if getattr(self, name)
        ]
        lines = [
            f"fake Discord at {self.base_url} (live gateway sessions: {live}, "
            f"started: {self.sessions_started})",
            f"synced commands: {[command['name'] for command in self.synced_commands]}",
        ]
        if switches:
            lines.append(f"failure switches on: {switches}")
        lines += [interaction.describe() for interaction in self.interactions.values()]
        lines += [f"channel message: {message!r}" for message in self.channel_messages]
        lines += [f"user message: {message!r}" for message in self.user_messages]
        lines += [f"error answered: {error}" for error in self.errors]
        lines.append(f"last requests: {self.requests[-10:]}")
        return "\n".join(lines)

    def _find_message(self, message_id: int) -> FakeMessage | None:
        for message in itertools.chain(self._messages, self.user_messages):
            if message.id == message_id:
                return message
        return None
