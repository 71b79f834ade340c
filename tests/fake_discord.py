"""A fake Discord on loopback, for running the real discord.py client in tests.

`FakeDiscord` is an aiohttp server on 127.0.0.1 that speaks the parts of Discord's protocol a
slash-command bot uses: the REST API under ``/api/v10``, the gateway websocket under
``/gateway`` and a CDN under ``/cdn`` (and ``/media``) for attachments. The bot under test runs
unpatched; only three library class attributes are pointed at the fake (see `install`).

The fake behaves like Discord where bots can get it wrong: one callback per interaction,
within 3 s; followups only after a callback and only while the token lives; the first followup
after a deferral replaces the "thinking" message and keeps its visibility; uploads over the
interaction's limit, over-long content and empty messages are refused with Discord's codes.
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
import contextlib
import inspect
import json
import logging
import mimetypes
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import discord.asset
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, hdrs, web

log = logging.getLogger(__name__)

JSON = dict[str, Any]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Discord's interaction rules.
CALLBACK_DEADLINE_SECONDS = 3.0
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
MAX_CONTENT_LENGTH = 2000
MAX_EMBED_TOTAL = 6000
EMBED_TEXT_LIMITS: dict[tuple[str, ...], int] = {
    ("title",): 256,
    ("description",): 4096,
    ("footer", "text"): 2048,
    ("author", "name"): 256,
}
MAX_EMBED_FIELDS = 25
FIELD_TEXT_LIMITS = {"name": 256, "value": 1024}

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Interaction, callback and context values from Discord's documentation.
APPLICATION_COMMAND = 2
CHAT_INPUT = 1
CALLBACK_TYPES = frozenset({4, 5, 6, 7, 8, 9})
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
SUBCOMMAND_TYPES = frozenset({1, 2})
GUILD_INSTALL = "0"
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1

# Message types: what Discord gives a slash command's response, and a plain message.
MESSAGE_CHAT_INPUT_COMMAND = 20
MESSAGE_DEFAULT = 0

# Gateway opcodes.
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_RECONNECT = 7
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
HEARTBEAT_INTERVAL_MS = 41_250

# What members and the bot may do in the fake's channel: enough to talk, embed and upload.
DEFAULT_PERMISSIONS = (
    (1 << 10)  # view channel
    | (1 << 11)  # send messages
    | (1 << 14)  # embed links
    | (1 << 15)  # attach files
    | (1 << 16)  # read message history
    | (1 << 31)  # use application commands
)
# GATEWAY_PRESENCE_LIMITED, GATEWAY_GUILD_MEMBERS_LIMITED, GATEWAY_MESSAGE_CONTENT_LIMITED: the
# fake accepts every intent, so the application says all privileged intents are switched on.
APPLICATION_FLAGS = (1 << 13) | (1 << 15) | (1 << 19)

# aiohttp refuses bodies over 1 MiB by default; oversized uploads must reach the fake so that
# it can answer them as Discord does.
MAX_REQUEST_BYTES = 256 * 1024 * 1024
# Waits also re-check on this period, as a predicate may watch the bot rather than the fake.
RECHECK_SECONDS = 0.05
JOINED_AT = "2024-01-01T00:00:00+00:00"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _json(data: Any, status: int = 200) -> web.Response:
    # body=, not text=: text= appends "; charset=utf-8", and discord.py only decodes JSON when
    # the Content-Type is exactly application/json.
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in {"1", "true"}


def _describe_predicate(predicate: Callable[..., bool]) -> str:
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


class _ApiError(Exception):
    """An error answer, as Discord shapes them: HTTP status plus a JSON code and message."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass(frozen=True)
class RecordedError:
    """An error the fake answered, kept so that a failing test can show what went wrong."""

    method: str
    path: str
    status: int
    code: int
    message: str


@dataclass(frozen=True)
class _Upload:
    """One ``files[n]`` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass(frozen=True)
class _StoredFile:
    filename: str
    data: bytes
    content_type: str | None


class _Snowflakes:
    """Unique, increasing snowflakes carrying the current time, like Discord's own ids."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


class _Changes:
    """Wakes waiters whenever the fake records something, so waits end without busy polling."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(
        self, predicate: Callable[[], bool], timeout: float, describe: Callable[[], str]
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for\n{describe()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(remaining, RECHECK_SECONDS))


@dataclass(kw_only=True, eq=False, repr=False)
class FakeMessage:
    """A message the bot created, with everything it sent for it."""

    id: int
    channel_id: int
    kind: str  # "original" | "followup" | "channel"
    interaction_id: int | None = None
    content: str | None = None
    embeds: list[JSON] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: JSON | None = None
    components: list[JSON] = field(default_factory=list)
    # files[i] is the upload behind attachments[i], the attachment object Discord reports.
    files: list[tuple[str, bytes, str | None]] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    edits: list[JSON] = field(default_factory=list)
    deleted: bool = False
    timestamp: str = field(default_factory=_now_iso)
    edited_timestamp: str | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    def __repr__(self) -> str:
        state = " deleted" if self.deleted else ""
        visibility = " ephemeral" if self.ephemeral else ""
        names = [name for name, _, _ in self.files]
        return (
            f"<{self.kind}{visibility}{state} message {self.id} content={self.content!r} "
            f"embeds={len(self.embeds)} files={names} edits={len(self.edits)}>"
        )


class FakeInteraction:
    """One injected interaction and everything the bot answered to it."""

    def __init__(
        self,
        *,
        interaction_id: int,
        token: str,
        user: JSON,
        command: str,
        channel_id: int,
        attachment_size_limit: int,
        changes: _Changes,
    ) -> None:
        self.id = interaction_id
        self.token = token
        self.user = user
        self.command = command
        self.channel_id = channel_id
        self.attachment_size_limit = attachment_size_limit
        self.payload: JSON = {}  # the INTERACTION_CREATE data as sent
        self.sent_at = 0.0
        self.callbacks: list[tuple[int, JSON, float]] = []
        self.original: FakeMessage | None = None
        self.original_deleted = False
        # Every message created through the followup webhook, in order. The first one after a
        # deferral is also `original` (kind "original"): on Discord it replaces "thinking".
        self.followups: list[FakeMessage] = []
        self.expired = False
        self.thinking_message_id: int | None = None  # the message a deferral creates
        self._changes = changes

    def acknowledged_after(self) -> float | None:
        if not self.callbacks:
            return None
        return self.callbacks[0][2] - self.sent_at

    @property
    def deferred(self) -> bool:
        return bool(self.callbacks) and self.callbacks[0][0] == DEFERRED_CHANNEL_MESSAGE

    @property
    def deferred_ephemeral(self) -> bool:
        return self.deferred and bool(self.callbacks[0][1].get("flags", 0) & EPHEMERAL)

    @property
    def thinking(self) -> bool:
        """Deferred, and the "thinking" message is neither replaced nor deleted yet."""
        return self.deferred and self.original is None and not self.original_deleted

    def messages(self) -> list[FakeMessage]:
        """The original response (if any) and the followups, without duplicates."""
        found = [self.original] if self.original is not None else []
        return found + [message for message in self.followups if message is not self.original]

    async def wait_for(
        self, predicate: Callable[[FakeInteraction], bool], timeout: float = 10
    ) -> None:
        await self._changes.wait_until(
            lambda: predicate(self),
            timeout,
            lambda: f"{_describe_predicate(predicate)}\n{self.describe()}",
        )

    def describe(self) -> str:
        callbacks = [(kind, data) for kind, data, _ in self.callbacks]
        expired = " (expired)" if self.expired else ""
        lines = [
            f"interaction {self.id} /{self.command} by {self.user.get('username')}{expired}",
            f"  callbacks: {callbacks}",
            f"  original: {self.original!r}{' (deleted)' if self.original_deleted else ''}",
        ]
        lines += [f"  followup: {message!r}" for message in self.followups]
        return "\n".join(lines)


def point_discord_py_at(base_url: str) -> None:
    """Send discord.py's REST, gateway and CDN traffic to a fake at `base_url` (http://host:port)."""
    discord.http.Route.BASE = base_url + API_PREFIX
    gateway = base_url.replace("http://", "ws://", 1) + "/gateway"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    discord.asset.Asset.BASE = base_url + "/cdn"


class FakeDiscord:
    """Discord's REST API, gateway and CDN for one bot, one guild and one text channel."""

    APP_ID = 1_180_000_000_000_000_001
    BOT_USER_ID = 1_180_000_000_000_000_002
    GUILD_ID = 1_180_000_000_000_000_003
    CHANNEL_ID = 1_180_000_000_000_000_004
    OWNER_ID = 1_180_000_000_000_000_005
    DEFAULT_USER_ID = 1_180_000_000_000_000_006
    BOT_NAME = "FakeBot"

    def __init__(self) -> None:
        self.synced_commands: list[JSON] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.channel_messages: list[FakeMessage] = []
        self.cdn_requests: list[str] = []
        self.requests: list[str] = []  # "METHOD /path" of every request, in order
        self.errors: list[RecordedError] = []
        self.identify_payload: JSON | None = None
        # The guild's upload limit, for messages posted outside an interaction.
        self.channel_upload_limit = DEFAULT_UPLOAD_LIMIT
        self._ids = _Snowflakes()
        self._changes = _Changes()
        self._commands: dict[int | None, list[JSON]] = {}  # by guild id, None = global
        self._by_token: dict[str, FakeInteraction] = {}
        self._messages: list[FakeMessage] = []
        self._files: dict[int, _StoredFile] = {}
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._ws: web.WebSocketResponse | None = None  # the connection with a live session
        self._session_id: str | None = None
        self._sequence = 0
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
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_REQUEST_BYTES)
        api = API_PREFIX
        routes = app.router
        routes.add_get(f"{api}/users/@me", self._get_current_user)
        routes.add_get(f"{api}/oauth2/applications/@me", self._get_application)
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
            return await handler(request)
        except _ApiError as error:
            self._record_error(request, error.status, error.code, error.message)
            return _json(error.body(), status=error.status)
        except Exception as error:
            # A 5xx would make discord.py retry for 16 s; a 4xx fails the test at once.
            log.exception("fake Discord failed on %s %s", request.method, request.path)
            message = f"fake Discord crashed: {error!r}"
            self._record_error(request, 400, 0, message)
            return _json({"message": message, "code": 0}, status=400)
        finally:
            self._changes.notify()

    def _record_error(self, request: web.Request, status: int, code: int, message: str) -> None:
        self.errors.append(RecordedError(request.method, request.path, status, code, message))

    async def _unknown_route(self, request: web.Request) -> web.Response:
        raise _ApiError(404, 0, "404: Not Found")

    # -- test-facing API -----------------------------------------------------------------------

    async def wait_identified(self, timeout: float = 10) -> None:
        """Wait until the bot has a live gateway session (READY and GUILD_CREATE sent)."""
        try:
            await asyncio.wait_for(self._identified.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not identify on the fake gateway within {timeout} s\n"
                f"{self.describe()}"
            ) from None

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        await self._changes.wait_until(
            predicate, timeout, lambda: f"{_describe_predicate(predicate)}\n{self.describe()}"
        )

    def all_messages(self) -> list[FakeMessage]:
        """Every message the bot created, deleted ones included, in creation order."""
        return list(self._messages)

    def describe(self) -> str:
        """A readable summary of what the fake has seen, for assertion messages."""
        session = "live" if self._identified.is_set() else "none"
        lines = [
            f"fake Discord at {self.base_url} (gateway session: {session})",
            f"synced commands: {[command['name'] for command in self.synced_commands]}",
        ]
        lines += [interaction.describe() for interaction in self.interactions.values()]
        lines += [f"channel message: {message!r}" for message in self.channel_messages]
        lines += [f"error answered: {error}" for error in self.errors]
        lines.append(f"last requests: {self.requests[-10:]}")
        return "\n".join(lines)

    def make_user(self, user_id: int, name: str) -> JSON:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": False,
            "system": False,
            "public_flags": 0,
        }

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = "image/png",
        width: int | None = None,
        height: int | None = None,
    ) -> JSON:
        """Store a user's upload on the CDN; returns its attachment object for `invoke`."""
        # Files given to slash-command options live under ephemeral-attachments on Discord.
        attachment = self._store_file(
            f"ephemeral-attachments/{self.APP_ID}", filename, data, content_type
        )
        attachment["ephemeral"] = True
        if width is not None:
            attachment["width"] = width
        if height is not None:
            attachment["height"] = height
        return attachment

    async def invoke(
        self,
        command: str,
        options: Sequence[JSON] = (),
        *,
        user: JSON | None = None,
        attachments: Iterable[JSON] = (),
        guild: bool = True,
        permissions: int = DEFAULT_PERMISSIONS,
        app_permissions: int = DEFAULT_PERMISSIONS,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send an INTERACTION_CREATE for the synced chat-input command `command`."""
        scope, registered = self._synced_command(command, guild)
        _check_options(command, registered.get("options") or [], options)
        user = user or self.make_user(self.DEFAULT_USER_ID, "tester")
        channel_id = self.CHANNEL_ID if guild else self._dm_channel_id(user)
        interaction = FakeInteraction(
            interaction_id=self._ids.next(),
            token=secrets.token_urlsafe(48),
            user=user,
            command=command,
            channel_id=channel_id,
            attachment_size_limit=attachment_size_limit,
            changes=self._changes,
        )
        data = self._command_data(registered, scope, options, attachments)
        interaction.payload = self._interaction_payload(
            interaction,
            data,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
        )
        await self.wait_identified()
        self.interactions[interaction.id] = interaction
        self._by_token[interaction.token] = interaction
        interaction.sent_at = time.monotonic()
        await self._dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    async def force_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client drops the socket and RESUMEs on a new one."""
        ws = self._require_session()
        self._identified.clear()
        await ws.send_str(json.dumps({"op": OP_RECONNECT, "d": None}))

    # -- payloads --------------------------------------------------------------------------------

    def _bot_user(self) -> JSON:
        return self.make_user(self.BOT_USER_ID, self.BOT_NAME) | {
            "global_name": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
        }

    def _member(self, user: JSON) -> JSON:
        return {
            "user": user,
            "roles": [],
            "joined_at": JOINED_AT,
            "premium_since": None,
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }

    def _text_channel(self) -> JSON:
        return {
            "id": str(self.CHANNEL_ID),
            "type": 0,
            "guild_id": str(self.GUILD_ID),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "parent_id": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def _dm_channel(self, channel_id: int, user: JSON) -> JSON:
        return {"id": str(channel_id), "type": 1, "recipients": [user], "last_message_id": None}

    def _dm_channel_id(self, user: JSON) -> int:
        user_id = int(user["id"])
        if user_id not in self._dm_channels:
            self._dm_channels[user_id] = self._ids.next()
        return self._dm_channels[user_id]

    def _guild(self) -> JSON:
        everyone = {
            "id": str(self.GUILD_ID),  # @everyone shares the guild's id
            "name": "@everyone",
            "permissions": str(DEFAULT_PERMISSIONS),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return {
            "id": str(self.GUILD_ID),
            "name": "Fake Guild",
            "icon": None,
            "owner_id": str(self.OWNER_ID),
            "unavailable": False,
            "large": False,
            # Equal to the members listed, so discord.py sees the guild as chunked.
            "member_count": 1,
            "joined_at": JOINED_AT,
            "roles": [everyone],
            "channels": [self._text_channel()],
            "members": [self._member(self._bot_user())],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "emojis": [],
            "stickers": [],
            "features": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "afk_timeout": 300,
            "system_channel_id": None,
        }

    def _command_data(
        self,
        registered: JSON,
        scope: int | None,
        options: Sequence[JSON],
        attachments: Iterable[JSON],
    ) -> JSON:
        data: JSON = {"id": registered["id"], "name": registered["name"], "type": CHAT_INPUT}
        if options:
            data["options"] = list(options)
        resolved = {attachment["id"]: attachment for attachment in attachments}
        if resolved:
            data["resolved"] = {"attachments": resolved}
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    def _interaction_payload(
        self,
        interaction: FakeInteraction,
        data: JSON,
        *,
        guild: bool,
        permissions: int,
        app_permissions: int,
        locale: str,
    ) -> JSON:
        payload: JSON = {
            "id": str(interaction.id),
            "application_id": str(self.APP_ID),
            "type": APPLICATION_COMMAND,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(app_permissions),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": interaction.attachment_size_limit,
            "channel_id": str(interaction.channel_id),
        }
        if guild:
            return payload | {
                "guild_id": str(self.GUILD_ID),
                "guild_locale": "en-US",
                "guild": {"id": str(self.GUILD_ID), "locale": "en-US", "features": []},
                "channel": self._text_channel() | {"permissions": str(permissions)},
                "member": self._member(interaction.user) | {"permissions": str(permissions)},
                "authorizing_integration_owners": {GUILD_INSTALL: str(self.GUILD_ID)},
                "context": CONTEXT_GUILD,
            }
        return payload | {
            "channel": self._dm_channel(interaction.channel_id, interaction.user),
            "user": interaction.user,
            # "0" is Discord's guild id for a guild-installed app used in its bot's DMs.
            "authorizing_integration_owners": {GUILD_INSTALL: "0"},
            "context": CONTEXT_BOT_DM,
        }

    def _message_payload(self, message: FakeMessage) -> JSON:
        payload: JSON = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": self._bot_user(),
            "content": message.content or "",
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": message.attachments,
            "embeds": message.embeds,
            "pinned": False,
            "type": MESSAGE_DEFAULT,
            "flags": message.flags,
            "components": message.components,
        }
        if message.interaction_id is not None:
            interaction = self.interactions[message.interaction_id]
            payload |= {
                "type": MESSAGE_CHAT_INPUT_COMMAND,
                "webhook_id": str(self.APP_ID),
                "application_id": str(self.APP_ID),
                "interaction_metadata": {
                    "id": str(interaction.id),
                    "type": APPLICATION_COMMAND,
                    "user": interaction.user,
                    "authorizing_integration_owners": interaction.payload[
                        "authorizing_integration_owners"
                    ],
                },
            }
        return payload

    def _thinking_payload(self, interaction: FakeInteraction) -> JSON:
        """The "<bot> is thinking..." message a deferral shows until it is replaced."""
        assert interaction.thinking_message_id is not None
        visibility = EPHEMERAL if interaction.deferred_ephemeral else 0
        placeholder = FakeMessage(
            id=interaction.thinking_message_id,
            channel_id=interaction.channel_id,
            kind="original",
            interaction_id=interaction.id,
            flags=LOADING | visibility,
        )
        return self._message_payload(placeholder)

    # -- gateway -------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        # The client asks for compress=zlib-stream but only inflates binary frames: the fake
        # answers in plain text frames.
        ws = web.WebSocketResponse(timeout=1.0)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await ws.send_str(
                json.dumps({"op": OP_HELLO, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
            )
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_gateway_message(ws, json.loads(frame.data))
                    self._changes.notify()
        finally:
            self._sockets.discard(ws)
            if ws is self._ws:
                self._ws = None
                self._identified.clear()
        return ws

    async def _on_gateway_message(self, ws: web.WebSocketResponse, message: JSON) -> None:
        op = message.get("op")
        if op == OP_HEARTBEAT:
            await ws.send_str(json.dumps({"op": OP_HEARTBEAT_ACK}))
        elif op == OP_IDENTIFY:
            await self._start_session(ws, message["d"])
        elif op == OP_RESUME:
            await self._resume_session(ws, message["d"])
        # Presence and voice updates change nothing the fake models.

    async def _start_session(self, ws: web.WebSocketResponse, identify: JSON) -> None:
        self.identify_payload = identify
        self._session_id = secrets.token_hex(16)
        self._ws = ws
        ready: JSON = {
            "v": 10,
            "user": self._bot_user(),
            "session_id": self._session_id,
            # After READY the client reconnects here, not to DEFAULT_GATEWAY.
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.APP_ID), "flags": APPLICATION_FLAGS},
            "guilds": [{"id": str(self.GUILD_ID), "unavailable": True}],
            "private_channels": [],
            "relationships": [],
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
        await self._dispatch("READY", ready)
        await self._dispatch("GUILD_CREATE", self._guild())
        self._identified.set()

    async def _resume_session(self, ws: web.WebSocketResponse, resume: JSON) -> None:
        if resume.get("session_id") != self._session_id:
            # d=false: not resumable; the client identifies again on a new connection.
            await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return
        self._ws = ws
        await self._dispatch("RESUMED", {})
        self._identified.set()

    def _require_session(self) -> web.WebSocketResponse:
        if self._ws is None:
            raise RuntimeError("no bot has a live session on the fake gateway")
        return self._ws

    async def _dispatch(self, event: str, data: JSON) -> None:
        ws = self._require_session()
        # One lock, so that sequence numbers go out in the order they were given.
        async with self._send_lock:
            self._sequence += 1
            frame = {"op": OP_DISPATCH, "t": event, "s": self._sequence, "d": data}
            await ws.send_str(json.dumps(frame))

    # -- REST: identity, gateway, commands ------------------------------------------------------

    async def _get_current_user(self, request: web.Request) -> web.Response:
        return _json(self._bot_user())

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.APP_ID),
                "name": self.BOT_NAME,
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.make_user(self.OWNER_ID, "owner"),
                "team": None,
                "verify_key": "0" * 64,
                "flags": APPLICATION_FLAGS,
                # Non-null would tell discord.py that interactions go to an HTTP endpoint.
                "interactions_endpoint_url": None,
                "bot": self._bot_user(),
                "tags": [],
                "redirect_uris": [],
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _command_scope(self, request: web.Request) -> int | None:
        if int(request.match_info["app"]) != self.APP_ID:
            raise _ApiError(403, 50001, "Missing Access")
        guild = request.match_info.get("guild")
        if guild is None:
            return None
        if int(guild) != self.GUILD_ID:
            raise _ApiError(403, 50001, "Missing Access")
        return self.GUILD_ID

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        # A bulk overwrite keeps the id of a command that keeps its name and type.
        known = {(c["name"], c["type"]): c["id"] for c in self._commands.get(scope, [])}
        version = str(self._ids.next())
        registered = []
        for command in await _read_json(request):
            key = (command["name"], command.get("type", CHAT_INPUT))
            entry: JSON = {
                "type": CHAT_INPUT,
                "default_member_permissions": None,
                "nsfw": False,
                "integration_types": [0],
                **command,
                "id": known.get(key) or str(self._ids.next()),
                "application_id": str(self.APP_ID),
                "version": version,
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            registered.append(entry)
        self._commands[scope] = registered
        self.synced_commands = registered
        return _json(registered)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self._commands.get(self._command_scope(request), []))

    def _synced_command(self, name: str, guild: bool) -> tuple[int | None, JSON]:
        # Guild commands exist only in their guild; global ones everywhere.
        scopes: list[int | None] = [self.GUILD_ID, None] if guild else [None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and command["type"] == CHAT_INPUT:
                    return scope, command
        where = "to the guild or globally" if guild else "globally (needed in DMs)"
        raise ValueError(f"/{name} was not synced {where}; {self.describe()}")

    # -- REST: interaction callbacks -----------------------------------------------------------

    async def _callback(self, request: web.Request) -> web.Response:
        received = time.monotonic()
        interaction = self.interactions.get(int(request.match_info["interaction"]))
        if (
            interaction is None
            or interaction.token != request.match_info["token"]
            or interaction.expired
        ):
            raise _ApiError(404, 10062, "Unknown interaction")
        body, uploads = await _read_body(request)
        kind, data = body.get("type"), body.get("data") or {}
        if interaction.callbacks:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        if received - interaction.sent_at > CALLBACK_DEADLINE_SECONDS:
            raise _ApiError(404, 10062, "Unknown interaction")
        if kind not in CALLBACK_TYPES:
            raise _ApiError(400, 50035, "Invalid Form Body", {"type": _invalid_value(kind)})
        if kind == CHANNEL_MESSAGE:
            _check_uploads(uploads, interaction.attachment_size_limit)
            _check_message(data, uploads, creating=True)
            interaction.original = self._new_message(
                "original", interaction.channel_id, data, uploads, interaction=interaction
            )
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            interaction.thinking_message_id = self._ids.next()
        interaction.callbacks.append((kind, data, received))
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        return _json(self._callback_response(interaction, kind))

    def _callback_response(self, interaction: FakeInteraction, kind: int) -> JSON:
        """The ?with_response=1 body: the interaction's state and the message it now has."""
        summary: JSON = {"id": str(interaction.id), "type": APPLICATION_COMMAND}
        resource: JSON = {"type": kind}
        if interaction.original is not None:
            resource["message"] = self._message_payload(interaction.original)
            message_id, ephemeral = interaction.original.id, interaction.original.ephemeral
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            resource["message"] = self._thinking_payload(interaction)
            message_id, ephemeral = interaction.thinking_message_id, interaction.deferred_ephemeral
        else:
            return {"interaction": summary, "resource": resource}
        summary |= {
            "response_message_id": str(message_id),
            "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": ephemeral,
        }
        return {"interaction": summary, "resource": resource}

    # -- REST: followup webhook ------------------------------------------------------------------

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction:
        if int(request.match_info["app"]) != self.APP_ID:
            raise _ApiError(404, 10015, "Unknown Webhook")
        interaction = self._by_token.get(request.match_info["token"])
        if interaction is None or interaction.expired:
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        if not interaction.callbacks:
            raise _ApiError(404, 10015, "Unknown Webhook")
        return interaction

    def _webhook_message(self, interaction: FakeInteraction, ref: str) -> FakeMessage | None:
        """The message `ref` names; None for "@original" while it is still "thinking"."""
        if ref == "@original":
            if interaction.thinking:
                return None
            message = interaction.original
        else:
            message = next((m for m in interaction.messages() if str(m.id) == ref), None)
        if message is None or message.deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        return message

    async def _create_followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, interaction.attachment_size_limit)
        _check_message(payload, uploads, creating=True)
        if interaction.thinking:
            message = self._replace_thinking(interaction, payload, uploads)
        else:
            message = self._new_message(
                "followup", interaction.channel_id, payload, uploads, interaction=interaction
            )
        interaction.followups.append(message)
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return _json(self._message_payload(message))

    def _replace_thinking(
        self, interaction: FakeInteraction, payload: JSON, uploads: list[_Upload]
    ) -> FakeMessage:
        """Turn the deferral's "thinking" message into the real original response.

        Its visibility was fixed by the deferral: the ephemeral flag sent now is ignored.
        """
        visibility = EPHEMERAL if interaction.deferred_ephemeral else 0
        flags = (payload.get("flags") or 0) & ~EPHEMERAL | visibility
        message = self._new_message(
            "original",
            interaction.channel_id,
            payload,
            uploads,
            interaction=interaction,
            message_id=interaction.thinking_message_id,
            flags=flags,
        )
        interaction.original = message
        return message

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(interaction, request.match_info["message"])
        if message is None:
            return _json(self._thinking_payload(interaction))
        return _json(self._message_payload(message))

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(interaction, request.match_info["message"])
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, interaction.attachment_size_limit)
        if message is None:
            _check_message(payload, uploads, creating=True)
            message = self._replace_thinking(interaction, payload, uploads)
        else:
            _check_message(payload, uploads, creating=False)
            self._edit_message(message, payload, uploads)
        return _json(self._message_payload(message))

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(interaction, request.match_info["message"])
        if message is not None:
            message.deleted = True
        if message is None or message is interaction.original:
            interaction.original = None
            interaction.original_deleted = True
        return web.Response(status=204)

    # -- REST: channel messages ------------------------------------------------------------------

    def _channel_id(self, request: web.Request) -> int:
        channel_id = int(request.match_info["channel"])
        if channel_id != self.CHANNEL_ID and channel_id not in self._dm_channels.values():
            raise _ApiError(404, 10003, "Unknown Channel")
        return channel_id

    def _channel_message(self, request: web.Request) -> FakeMessage:
        channel_id = self._channel_id(request)
        message_id = int(request.match_info["message"])
        for message in self.channel_messages:
            if (message.id, message.channel_id) == (message_id, channel_id) and not message.deleted:
                return message
        raise _ApiError(404, 10008, "Unknown Message")

    async def _create_channel_message(self, request: web.Request) -> web.Response:
        channel_id = self._channel_id(request)
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, self.channel_upload_limit)
        _check_message(payload, uploads, creating=True)
        # Only interaction responses can be ephemeral; Discord ignores the flag elsewhere.
        flags = (payload.get("flags") or 0) & ~EPHEMERAL
        message = self._new_message("channel", channel_id, payload, uploads, flags=flags)
        self.channel_messages.append(message)
        return _json(self._message_payload(message))

    async def _edit_channel_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, self.channel_upload_limit)
        _check_message(payload, uploads, creating=False)
        self._edit_message(message, payload, uploads)
        return _json(self._message_payload(message))

    async def _delete_channel_message(self, request: web.Request) -> web.Response:
        self._channel_message(request).deleted = True
        return web.Response(status=204)

    # -- messages and files ----------------------------------------------------------------------

    def _new_message(
        self,
        kind: str,
        channel_id: int,
        payload: JSON,
        uploads: list[_Upload],
        *,
        interaction: FakeInteraction | None = None,
        message_id: int | None = None,
        flags: int | None = None,
    ) -> FakeMessage:
        message = FakeMessage(
            id=message_id or self._ids.next(),
            channel_id=channel_id,
            kind=kind,
            interaction_id=interaction.id if interaction is not None else None,
            content=payload.get("content"),
            embeds=payload.get("embeds") or [],
            flags=(payload.get("flags") or 0) if flags is None else flags,
            allowed_mentions=payload.get("allowed_mentions"),
            components=payload.get("components") or [],
        )
        self._set_attachments(message, payload, uploads)
        self._messages.append(message)
        return message

    def _edit_message(self, message: FakeMessage, payload: JSON, uploads: list[_Upload]) -> None:
        if "content" in payload:
            message.content = payload["content"]
        if "embeds" in payload:
            message.embeds = payload["embeds"] or []
        if "components" in payload:
            message.components = payload["components"] or []
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload:
            # Visibility is fixed at creation; an edit can only change the other flags.
            message.flags = (payload["flags"] or 0) & ~EPHEMERAL | message.flags & EPHEMERAL
        if "attachments" in payload or uploads:
            self._set_attachments(message, payload, uploads)
        message.edits.append(payload)
        message.edited_timestamp = _now_iso()

    def _set_attachments(self, message: FakeMessage, payload: JSON, uploads: list[_Upload]) -> None:
        """Apply the payload's `attachments` list: keep the listed ones, add the uploads.

        An entry names either an existing attachment (by its id) or a new upload (by the n of
        its ``files[n]`` part), which is where an upload's description comes from.
        """
        listed = {str(entry["id"]): entry for entry in payload.get("attachments") or []}
        kept = [
            (file, attachment)
            for file, attachment in zip(message.files, message.attachments, strict=True)
            if "attachments" not in payload or attachment["id"] in listed
        ]
        for upload in uploads:
            attachment = self._store_file(
                f"attachments/{message.channel_id}",
                upload.filename,
                upload.data,
                mimetypes.guess_type(upload.filename)[0],
            )
            description = listed.get(str(upload.index), {}).get("description")
            if description is not None:
                attachment["description"] = description
            kept.append(((upload.filename, upload.data, upload.content_type), attachment))
        message.files = [file for file, _ in kept]
        message.attachments = [attachment for _, attachment in kept]

    def _store_file(
        self, folder: str, filename: str, data: bytes, content_type: str | None
    ) -> JSON:
        """Put bytes on the fake CDN and return the attachment object pointing at them."""
        attachment_id = self._ids.next()
        self._files[attachment_id] = _StoredFile(filename, data, content_type)
        path = f"{folder}/{attachment_id}/{quote(filename, safe='')}"
        # Real CDN links are signed; keeping the query makes URL handling in the bot realistic.
        issued = int(time.time())
        signature = f"?ex={issued + 86_400:x}&is={issued:x}&hm={secrets.token_hex(32)}&"
        attachment: JSON = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": f"{self.base_url}/cdn/{path}{signature}",
            "proxy_url": f"{self.base_url}/media/{path}{signature}",
        }
        if content_type is not None:
            attachment["content_type"] = content_type
        return attachment

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_requests.append(request.path)
        # {ephemeral-}attachments/<channel or app>/<attachment id>/<filename>
        parts = request.match_info["path"].split("/")
        stored = None
        if len(parts) == 4 and parts[2].isdigit():
            stored = self._files.get(int(parts[2]))
        if stored is None or stored.filename != parts[3]:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(
            body=stored.data, content_type=stored.content_type or "application/octet-stream"
        )


# -- request parsing and Discord's validation ----------------------------------------------------


async def _read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise _ApiError(400, 50109, "The request body contains invalid JSON.") from None


async def _read_body(request: web.Request) -> tuple[JSON, list[_Upload]]:
    """The JSON payload and the uploaded files, from a JSON or a multipart/form-data body."""
    if request.content_type != "multipart/form-data":
        return (await _read_json(request) if request.can_read_body else {}), []
    payload: JSON = {}
    uploads: list[_Upload] = []
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == "payload_json":
            payload = json.loads(await part.text())
        elif part.name.startswith("files["):
            index = int(part.name.removeprefix("files[").removesuffix("]"))
            data = bytes(await part.read())
            content_type = part.headers.get(hdrs.CONTENT_TYPE)
            uploads.append(_Upload(index, part.filename or "", data, content_type))
    return payload, uploads


def _check_uploads(uploads: Sequence[_Upload], limit: int) -> None:
    if any(len(upload.data) > limit for upload in uploads):
        raise _ApiError(413, 40005, "Request entity too large")


def _check_message(payload: JSON, uploads: Sequence[_Upload], *, creating: bool) -> None:
    """Refuse what Discord refuses: empty new messages and text over Discord's limits."""
    content_keys = ("content", "embeds", "components", "attachments", "sticker_ids", "poll")
    if creating and not uploads and not any(payload.get(key) for key in content_keys):
        raise _ApiError(400, 50006, "Cannot send an empty message")
    errors: JSON = {}
    content = payload.get("content")
    if content is not None and len(content) > MAX_CONTENT_LENGTH:
        errors["content"] = _too_long(MAX_CONTENT_LENGTH)
    embed_errors = {
        str(index): found
        for index, embed in enumerate(payload.get("embeds") or [])
        if (found := _embed_errors(embed))
    }
    if embed_errors:
        errors["embeds"] = embed_errors
    if errors:
        raise _ApiError(400, 50035, "Invalid Form Body", errors)


def _embed_errors(embed: JSON) -> JSON:
    errors: JSON = {}
    total = 0
    for path, limit in EMBED_TEXT_LIMITS.items():
        text = _dig(embed, path) or ""
        total += len(text)
        if len(text) > limit:
            _put(errors, path, _too_long(limit))
    fields = embed.get("fields") or []
    if len(fields) > MAX_EMBED_FIELDS:
        errors["fields"] = _too_long(MAX_EMBED_FIELDS)
    for index, embed_field in enumerate(fields):
        for key, limit in FIELD_TEXT_LIMITS.items():
            text = str(embed_field.get(key) or "")
            total += len(text)
            if len(text) > limit:
                _put(errors, ("fields", str(index), key), _too_long(limit))
    if total > MAX_EMBED_TOTAL:
        message = f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
        errors["_errors"] = [{"code": "MAX_EMBED_SIZE_EXCEEDED", "message": message}]
    return errors


def _too_long(limit: int) -> JSON:
    message = f"Must be {limit} or fewer in length."
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": message}]}


def _invalid_value(value: object) -> JSON:
    message = f"Value must be one of {sorted(CALLBACK_TYPES)}, not {value!r}."
    return {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": message}]}


def _dig(data: Mapping[str, Any], path: Sequence[str]) -> str | None:
    for key in path[:-1]:
        data = data.get(key) or {}
    value = data.get(path[-1])
    return None if value is None else str(value)


def _put(errors: JSON, path: Sequence[str], error: JSON) -> None:
    for key in path[:-1]:
        errors = errors.setdefault(key, {})
    errors[path[-1]] = error


def _check_options(command: str, schema: Sequence[JSON], given: Sequence[JSON]) -> None:
    """Discord only sends options that match the synced schema; so must the tests."""
    known = {option["name"]: option for option in schema}
    for option in given:
        expected = known.get(option["name"])
        if expected is None:
            raise ValueError(f"/{command} has no option {option['name']!r}; it has {list(known)}")
        if expected["type"] != option["type"]:
            raise ValueError(
                f"/{command} option {option['name']!r} has type {expected['type']}, "
                f"not {option['type']}"
            )
        if option["type"] in SUBCOMMAND_TYPES:
            nested = f"{command} {option['name']}"
            _check_options(nested, expected.get("options") or [], option.get("options") or [])
    names = {option["name"] for option in given}
    missing = [o["name"] for o in schema if o.get("required") and o["name"] not in names]
    if missing:
        raise ValueError(f"/{command} needs the options {missing}")
