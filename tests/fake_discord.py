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
modal, autocomplete answer and command sync; see tests/discord_limits.py) are refused with
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
import contextlib
import inspect
import itertools
import json
import logging
import mimetypes
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from urllib.parse import quote

import discord.asset
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, hdrs, web

from tests.discord_limits import (
    COMPONENT_LIMITS,
    INVALID_FORM_BODY,
    choices_errors,
    commands_errors,
    message_errors,
    modal_errors,
)

log = logging.getLogger(__name__)

JSON = dict[str, Any]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Discord's interaction rules.
CALLBACK_DEADLINE_SECONDS = 3.0
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
# Discord returns the earlier message for a repeated enforce_nonce post within a few minutes.
NONCE_WINDOW_SECONDS = 5 * 60

# Message flags.
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Interaction types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
APPLICATION_COMMAND_AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
# Application command types and option types.
CHAT_INPUT = 1
MESSAGE_COMMAND = 3
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
SUBCOMMAND_TYPES = frozenset({SUB_COMMAND, SUB_COMMAND_GROUP})
# Interaction callback types.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9
CALLBACK_TYPES = frozenset({4, 5, 6, 7, 8, 9})
# What Discord accepts for each interaction type: commands cannot update a message, modals
# cannot open another modal, autocomplete can only answer choices.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    APPLICATION_COMMAND: frozenset({CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL}),
    MESSAGE_COMPONENT: frozenset(
        {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, MODAL}
    ),
    APPLICATION_COMMAND_AUTOCOMPLETE: frozenset({AUTOCOMPLETE_RESULT}),
    MODAL_SUBMIT: frozenset(
        {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}
    ),
}
# Callbacks that write a message into the interaction's channel.
CHANNEL_WRITING_CALLBACKS = frozenset({CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, UPDATE_MESSAGE})
GUILD_INSTALL = "0"
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1

# Component types the fake fills in or presses.
BUTTON = 2
STRING_SELECT = 3
TEXT_INPUT = 4
CHECKBOX = 23
# Components that hold others: rows and containers in "components", labels in "component",
# sections in "accessory".
NESTED_COMPONENT_KEYS = ("component", "accessory")

# Message types: a plain message, and the responses to slash and context menu commands.
# Responses to buttons and modals are plain messages that carry interaction_metadata.
MESSAGE_DEFAULT = 0
MESSAGE_CHAT_INPUT_COMMAND = 20
MESSAGE_CONTEXT_MENU_COMMAND = 23

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
# Close codes with which a client ends its session for good; any other close can be resumed.
SESSION_ENDING_CLOSE_CODES = frozenset({1000, 1001})
# Events kept per session for replay on RESUME.
REPLAY_FRAMES = 1000

SEND_MESSAGES = 1 << 11
# What members and the bot may do in the fake's channel: enough to talk, embed and upload.
DEFAULT_PERMISSIONS = (
    (1 << 10)  # view channel
    | SEND_MESSAGES
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


def _flatten_options(options: Sequence[JSON]) -> list[JSON]:
    """Every option, including those nested in subcommands and groups."""
    flat: list[JSON] = []
    for option in options:
        flat.append(option)
        flat.extend(_flatten_options(option.get("options") or []))
    return flat


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
    errors: JSON | None = None  # for 50035 Invalid Form Body: what was invalid, and where


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


@dataclass(eq=False)
class _Session:
    """A gateway session: it outlives its socket, so that the client can RESUME it."""

    id: str
    ws: web.WebSocketResponse | None
    sequence: int = 0
    shard: tuple[int, int] | None = None  # (shard id, shard count) from IDENTIFY
    # (sequence, frame) of what was dispatched, replayed to a client that resumes.
    sent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_FRAMES))

    @property
    def attached(self) -> bool:
        return self.ws is not None and not self.ws.closed


@dataclass(kw_only=True, eq=False, repr=False)
class FakeMessage:
    """A message the bot created (or, kind "user", one a test posted as a user)."""

    id: int
    channel_id: int
    kind: str  # "original" | "followup" | "channel" | "user"
    interaction_id: int | None = None
    author: JSON | None = None  # None: the bot
    nonce: str | int | None = None
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
        interaction_type: int = APPLICATION_COMMAND,
        summary: str = "",
        message: FakeMessage | None = None,
        opened_by: FakeInteraction | None = None,
    ) -> None:
        self.id = interaction_id
        self.token = token
        self.user = user
        # The command's full name ("character save"), or the custom_id of a button or modal.
        self.command = command
        self.type = interaction_type
        self.summary = summary or f"/{command}"
        self.channel_id = channel_id
        self.attachment_size_limit = attachment_size_limit
        # The message the pressed button is on (also for a modal opened from a button press).
        self.message = message
        # For a modal submit: the interaction whose callback opened the modal.
        self.opened_by = opened_by
        self.payload: JSON = {}  # the INTERACTION_CREATE data as sent
        self.sent_at = 0.0
        self.callbacks: list[tuple[int, JSON, float]] = []
        # The message "@original" names. For a component interaction answered with type 6 or
        # 7 that is the message the button is on; otherwise the response the bot created.
        self.original: FakeMessage | None = None
        self.original_deleted = False
        # Every message created through the followup webhook, in order. The first one after a
        # deferral is also `original` (kind "original"): on Discord it replaces "thinking".
        self.followups: list[FakeMessage] = []
        self.expired = False
        self.thinking_message_id: int | None = None  # the message a deferral creates
        self.modal: JSON | None = None  # the modal a type 9 callback opened
        self.modal_submits: list[FakeInteraction] = []  # submits of that modal, in order
        self._changes = changes

    @property
    def choices(self) -> list[JSON] | None:
        """The autocomplete choices the bot answered (callback type 8), or None."""
        for kind, data, _ in self.callbacks:
            if kind == AUTOCOMPLETE_RESULT:
                return list(data.get("choices") or [])
        return None

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
            f"interaction {self.id} {self.summary} by {self.user.get('username')}{expired}",
            f"  callbacks: {callbacks}",
            f"  original: {self.original!r}{' (deleted)' if self.original_deleted else ''}",
        ]
        if self.modal is not None:
            lines.append(f"  opened modal {self.modal.get('custom_id')!r}")
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
    # A second text channel of the guild, where nothing happens unless a test names it.
    OTHER_CHANNEL_ID = 1_180_000_000_000_000_009
    OWNER_ID = 1_180_000_000_000_000_005
    DEFAULT_USER_ID = 1_180_000_000_000_000_006
    BOT_NAME = "FakeBot"

    def __init__(self) -> None:
        # The server's language (its "preferred locale"), which Discord sends with every
        # interaction from it as guild_locale.
        self.guild_locale = "en-US"
        self.synced_commands: list[JSON] = []
        self.interactions: dict[int, FakeInteraction] = {}
        self.channel_messages: list[FakeMessage] = []
        self.user_messages: list[FakeMessage] = []  # posted by tests, see add_user_message
        self.cdn_requests: list[str] = []
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
        # Time source for the nonce window; a test can replace it to step past five minutes.
        self.clock: Callable[[], float] = time.monotonic
        self.deduplicated_nonces = 0  # channel posts answered with an earlier message
        self._ids = _Snowflakes()
        self._changes = _Changes()
        # Discord failing as it does in production (5xx, 429, dropped connections): see
        # `DiscordFaults` at the end of this file.
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

    def add_user_message(
        self, content: str, attachments: Iterable[JSON] = (), *, user: JSON | None = None
    ) -> JSON:
        """Post a message as a user in the guild channel; returns it as Discord shows it.

        `attachments` come from `add_attachment`; posted in a message they become ordinary
        channel attachments (same id and bytes). Usable as `invoke_message_command`'s target.
        """
        message = FakeMessage(
            id=self._ids.next(),
            channel_id=self.CHANNEL_ID,
            kind="user",
            content=content,
            author=user or self.make_user(self.DEFAULT_USER_ID, "tester"),
        )
        for given in attachments:
            stored = self._files[int(given["id"])]
            attachment = {key: value for key, value in given.items() if key != "ephemeral"}
            folder = f"attachments/{self.CHANNEL_ID}"
            urls = self._cdn_urls(folder, int(given["id"]), stored.filename)
            attachment["url"], attachment["proxy_url"] = urls
            message.files.append((stored.filename, stored.data, stored.content_type))
            message.attachments.append(attachment)
        self.user_messages.append(message)
        return self._message_payload(message)

    async def invoke(
        self,
        command: str,
        options: Sequence[JSON] = (),
        *,
        subcommand: str | None = None,
        group: str | None = None,
        user: JSON | None = None,
        attachments: Iterable[JSON] = (),
        guild: bool = True,
        permissions: int = DEFAULT_PERMISSIONS,
        app_permissions: int | None = None,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send an INTERACTION_CREATE for the synced chat-input command `command`.

        `options` are the command's own, or with `subcommand` (and `group`) the subcommand's:
        they are nested in type 1 / type 2 options as Discord does.
        """
        scope, registered = self._synced_command(command, guild, CHAT_INPUT)
        nested = _nest_options(list(options), subcommand, group)
        _check_options(command, registered.get("options") or [], nested)
        data = self._command_data(registered, scope, nested, attachments)
        return await self._inject(
            APPLICATION_COMMAND,
            _qualified_name(command, group, subcommand),
            data,
            user=user,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def autocomplete(
        self,
        command: str,
        options: Sequence[JSON],
        *,
        focused: str,
        subcommand: str | None = None,
        group: str | None = None,
        user: JSON | None = None,
        guild: bool = True,
        permissions: int = DEFAULT_PERMISSIONS,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send the type 4 interaction Discord sends while a user types into option `focused`.

        `options` are what the user has filled in so far (required ones may be missing), with
        the partial text of `focused` as its value. The answer is in `FakeInteraction.choices`.
        """
        scope, registered = self._synced_command(command, guild, CHAT_INPUT)
        leaf = _leaf_schema(command, registered, group, subcommand)
        declared = next((option for option in leaf if option["name"] == focused), None)
        if declared is None or not declared.get("autocomplete"):
            raise ValueError(
                f"/{_qualified_name(command, group, subcommand)} has no autocomplete option "
                f"{focused!r}: Discord only asks for options declared with autocomplete"
            )
        if focused not in {option["name"] for option in options}:
            raise ValueError(f"the focused option {focused!r} must be among the options sent")
        marked = [
            option | {"focused": True} if option["name"] == focused else option
            for option in options
        ]
        nested = _nest_options(marked, subcommand, group)
        _check_options(command, registered.get("options") or [], nested, partial=True)
        data = self._command_data(registered, scope, nested, ())
        name = _qualified_name(command, group, subcommand)
        return await self._inject(
            APPLICATION_COMMAND_AUTOCOMPLETE,
            name,
            data,
            summary=f"autocomplete /{name} [{focused}]",
            user=user,
            guild=guild,
            permissions=permissions,
            locale=locale,
        )

    async def press(
        self,
        message: FakeMessage,
        custom_id: str,
        *,
        user: JSON | None = None,
        permissions: int = DEFAULT_PERMISSIONS,
        app_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Click the button `custom_id` on `message`: a type 3 (MESSAGE_COMPONENT) interaction.

        The user defaults to the one the message answered, else the default tester. Only an
        existing, enabled button that the user can see can be pressed.
        """
        if message.deleted:
            raise ValueError(f"{message!r} was deleted: its buttons cannot be pressed")
        buttons = [c for c in _walk_components(message.components) if c.get("type") == BUTTON]
        button = next((b for b in buttons if b.get("custom_id") == custom_id), None)
        if button is None:
            known = [b.get("custom_id") or b.get("url") for b in buttons]
            raise ValueError(f"{message!r} has no button {custom_id!r}; its buttons: {known}")
        if button.get("disabled"):
            raise ValueError(f"the button {custom_id!r} on {message!r} is disabled")
        owner = None
        if message.interaction_id is not None:
            owner = self.interactions[message.interaction_id].user
        user = user or owner or self.make_user(self.DEFAULT_USER_ID, "tester")
        if message.ephemeral and owner is not None and owner["id"] != user["id"]:
            raise ValueError(f"{message!r} is ephemeral: only {owner['username']} sees it")
        guild = self._check_visible(message.channel_id, user)
        return await self._inject(
            MESSAGE_COMPONENT,
            custom_id,
            {"custom_id": custom_id, "component_type": BUTTON},
            summary=f"button {custom_id!r} on message {message.id}",
            message=message,
            user=user,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
        )

    async def submit_modal(
        self,
        opened_by: FakeInteraction,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: JSON | None = None,
    ) -> FakeInteraction:
        """Fill in and submit the modal the bot opened (callback 9) on `opened_by`.

        `values` maps text inputs' custom_ids to text (string selects: to a list of option
        values). Inputs left out keep their pre-filled value, as the user would see them. The
        submission mirrors the modal's layout: action rows (type 1) or labels (type 18).
        """
        modal = opened_by.modal
        if modal is None:
            raise ValueError(f"the bot opened no modal on\n{opened_by.describe()}")
        if any(submit.callbacks for submit in opened_by.modal_submits):
            # Answered submits close the modal; unanswered ones leave it open with an error.
            raise ValueError(f"the modal {modal['custom_id']!r} was already submitted")
        user = user or opened_by.user
        if user["id"] != opened_by.user["id"]:
            raise ValueError("only the user the modal was opened for can submit it")
        data = {
            "custom_id": modal["custom_id"],
            "components": _modal_submission(modal, values),
        }
        # A modal opened by a button press comes back with that button's message.
        message = opened_by.message if opened_by.type == MESSAGE_COMPONENT else None
        guild = "guild_id" in opened_by.payload
        member = opened_by.payload.get("member") or {}
        submit = await self._inject(
            MODAL_SUBMIT,
            modal["custom_id"],
            data,
            summary=f"modal {modal['custom_id']!r} submitted",
            message=message,
            opened_by=opened_by,
            user=user,
            guild=guild,
            permissions=int(member.get("permissions", DEFAULT_PERMISSIONS)),
            app_permissions=int(opened_by.payload["app_permissions"]),
            attachment_size_limit=opened_by.attachment_size_limit,
            locale=opened_by.payload.get("locale", "en-US"),
        )
        opened_by.modal_submits.append(submit)
        return submit

    async def invoke_message_command(
        self,
        name: str,
        target: FakeMessage | JSON,
        *,
        user: JSON | None = None,
        permissions: int = DEFAULT_PERMISSIONS,
        app_permissions: int | None = None,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Run the message context menu command `name` (Apps > name) on `target`."""
        if isinstance(target, FakeMessage):
            known: FakeMessage | None = target
        else:
            known = self._find_message(int(target["id"]))
        if known is not None and known.deleted:
            raise ValueError(f"{known!r} was deleted: it has no context menu")
        if known is not None:
            # The fake's own record wins: it is the message as Discord has it now.
            payload = self._message_payload(known)
        else:
            assert isinstance(target, dict)
            payload = dict(target)
        user = user or self.make_user(self.DEFAULT_USER_ID, "tester")
        guild = self._check_visible(int(payload["channel_id"]), user)
        scope, registered = self._synced_command(name, guild, MESSAGE_COMMAND)
        data: JSON = {
            "id": registered["id"],
            "name": registered["name"],
            "type": MESSAGE_COMMAND,
            "target_id": payload["id"],
            "resolved": {"messages": {payload["id"]: payload}},
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._inject(
            APPLICATION_COMMAND,
            name,
            data,
            summary=f"message command {name!r} on message {payload['id']}",
            user=user,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def force_reconnect(self) -> None:
        """Send op 7 RECONNECT: the clients drop their sockets and RESUME on new ones."""
        attached = [session for session in self._sessions.values() if session.attached]
        if not attached:
            raise RuntimeError("no bot has a live session on the fake gateway")
        for session in attached:
            ws, session.ws = session.ws, None
            assert ws is not None
            await ws.send_str(json.dumps({"op": OP_RECONNECT, "d": None}))
        self._update_identified()

    async def _inject(
        self,
        interaction_type: int,
        command: str,
        data: JSON,
        *,
        user: JSON | None,
        guild: bool,
        permissions: int,
        summary: str = "",
        app_permissions: int | None = None,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        locale: str = "en-US",
        message: FakeMessage | None = None,
        opened_by: FakeInteraction | None = None,
    ) -> FakeInteraction:
        """Create the interaction, send its INTERACTION_CREATE to every live session."""
        if guild and self.channel_deleted:
            raise ValueError("the channel is deleted: no one can interact in it")
        user = user or self.make_user(self.DEFAULT_USER_ID, "tester")
        interaction = FakeInteraction(
            interaction_id=self._ids.next(),
            token=secrets.token_urlsafe(48),
            user=user,
            command=command,
            channel_id=self.CHANNEL_ID if guild else self._dm_channel_id(user),
            attachment_size_limit=attachment_size_limit,
            changes=self._changes,
            interaction_type=interaction_type,
            summary=summary,
            message=message,
            opened_by=opened_by,
        )
        if app_permissions is None:
            app_permissions = DEFAULT_PERMISSIONS
            if guild and self.channel_forbidden:
                app_permissions &= ~SEND_MESSAGES
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

    def _check_visible(self, channel_id: int, user: JSON) -> bool:
        """Whether `channel_id` is the guild channel; a DM must be `user`'s own."""
        if channel_id == self.CHANNEL_ID:
            return True
        if self._dm_channels.get(int(user["id"])) != channel_id:
            raise ValueError(f"{user['username']} cannot see channel {channel_id}")
        return False

    def _find_message(self, message_id: int) -> FakeMessage | None:
        for message in itertools.chain(self._messages, self.user_messages):
            if message.id == message_id:
                return message
        return None

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

    def _text_channel(self, channel_id: int | None = None) -> JSON:
        channel_id = channel_id or self.CHANNEL_ID
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.GUILD_ID),
            "name": "general" if channel_id == self.CHANNEL_ID else f"channel-{channel_id}",
            "position": 0 if channel_id == self.CHANNEL_ID else 1,
            "permission_overwrites": [],
            "nsfw": self.channel_age_restricted,
            "topic": None,
            "parent_id": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    async def _open_dm(self, request: web.Request) -> web.Response:
        """POST /users/@me/channels: the bot opens (or finds) its DM channel with a user."""
        payload = await request.json()
        user = self.make_user(int(payload["recipient_id"]), "recipient")
        return _json(self._dm_channel(self._dm_channel_id(user), user))

    def dm_messages(self, user_id: int) -> list[FakeMessage]:
        """What the bot sent to `user_id` in direct messages."""
        channel_id = self._dm_channels.get(user_id)
        return [m for m in self.channel_messages if m.channel_id == channel_id]

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
            "channels": [self._text_channel(), self._text_channel(self.OTHER_CHANNEL_ID)],
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
            "preferred_locale": self.guild_locale,
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
        resolved: JSON = {}
        files = {attachment["id"]: attachment for attachment in attachments}
        if files:
            resolved["attachments"] = files
        # A channel option (type 7) names the guild channel; Discord resolves it with the
        # invoker's permissions there.
        named = [o["value"] for o in _flatten_options(options) if o.get("type") == 7]
        if named:
            resolved["channels"] = {
                str(channel_id): self._text_channel(int(channel_id))
                | {"permissions": str(DEFAULT_PERMISSIONS)}
                for channel_id in named
            }
        if resolved:
            data["resolved"] = resolved
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
            "type": interaction.type,
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
        if interaction.message is not None:
            # The message as it is now, with its components and flags, as Discord sends it.
            payload["message"] = self._message_payload(interaction.message)
        if guild:
            return payload | {
                "guild_id": str(self.GUILD_ID),
                "guild_locale": self.guild_locale,
                "guild": {"id": str(self.GUILD_ID), "locale": self.guild_locale, "features": []},
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
            "author": message.author or self._bot_user(),
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
            metadata = self._interaction_metadata(interaction)
            original = interaction.original
            if (
                original is not None
                and original is not message
                and original.interaction_id == interaction.id
            ):
                metadata["original_response_message_id"] = str(original.id)
            payload |= {
                "type": _response_message_type(interaction),
                "webhook_id": str(self.APP_ID),
                "application_id": str(self.APP_ID),
                "interaction_metadata": metadata,
            }
        return payload

    def _interaction_metadata(self, interaction: FakeInteraction) -> JSON:
        """What a response message tells about the interaction it answers."""
        metadata: JSON = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": interaction.user,
            "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
        }
        if interaction.type == MESSAGE_COMPONENT and interaction.message is not None:
            metadata["interacted_message_id"] = str(interaction.message.id)
        if interaction.opened_by is not None:
            metadata["triggering_interaction_metadata"] = self._interaction_metadata(
                interaction.opened_by
            )
        target = interaction.payload["data"].get("target_id")
        if target is not None:
            metadata["target_message_id"] = target
        return metadata

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
            self._detach(ws)
            self._changes.notify()
        return ws

    def _detach(self, ws: web.WebSocketResponse) -> None:
        """The socket is gone: its session waits for a RESUME, unless the client ended it."""
        for session in list(self._sessions.values()):
            if session.ws is ws:
                session.ws = None
                if ws.close_code in SESSION_ENDING_CLOSE_CODES:
                    del self._sessions[session.id]
        self._update_identified()

    def _update_identified(self) -> None:
        if any(session.attached for session in self._sessions.values()):
            self._identified.set()
        else:
            self._identified.clear()
        self._changes.notify()

    @property
    def live_sessions(self) -> int:
        """Gateway sessions connected now: one per running bot process with a gateway."""
        return sum(1 for session in self._sessions.values() if session.attached)

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
        # A new IDENTIFY is a new session beside any other: a restarted bot gets its own READY
        # while its predecessor's session lives on until that one closes.
        self.identify_payload = identify
        session = _Session(secrets.token_hex(16), ws)
        ready: JSON = {
            "v": 10,
            "user": self._bot_user(),
            "session_id": session.id,
            # After READY the client reconnects here, not to DEFAULT_GATEWAY.
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.APP_ID), "flags": APPLICATION_FLAGS},
            "guilds": [{"id": str(self.GUILD_ID), "unavailable": True}],
            "private_channels": [],
            "relationships": [],
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
            shard_id, shard_count = identify["shard"]
            session.shard = (int(shard_id), int(shard_count))
        async with self._send_lock:
            await self._send(session, "READY", ready)
            if _routes_to(session, self.GUILD_ID):
                await self._send(session, "GUILD_CREATE", self._guild())
            # Registered after its READY, so that no event overtakes it.
            self._sessions[session.id] = session
        self.sessions_started += 1
        self._update_identified()

    async def _resume_session(self, ws: web.WebSocketResponse, resume: JSON) -> None:
        session = self._sessions.get(resume.get("session_id", ""))
        if session is None:
            # d=false: not resumable; the client identifies again on a new connection.
            await ws.send_str(json.dumps({"op": OP_INVALID_SESSION, "d": False}))
            return
        async with self._send_lock:
            session.ws = ws
            # Replay what the client missed while it was away, as Discord does.
            last_seen = resume.get("seq") or 0
            for sequence, frame in list(session.sent):
                if sequence > last_seen:
                    await ws.send_str(frame)
            await self._send(session, "RESUMED", {})
        self._update_identified()

    async def _dispatch(self, event: str, data: JSON) -> None:
        """Send an event to every live session (and queue it for those waiting to resume)."""
        if not any(session.attached for session in self._sessions.values()):
            raise RuntimeError("no bot has a live session on the fake gateway")
        # One lock, so that each session's sequence numbers go out in the order they were given.
        guild_id = int(data["guild_id"]) if data.get("guild_id") else None
        async with self._send_lock:
            for session in list(self._sessions.values()):
                if _routes_to(session, guild_id):
                    await self._send(session, event, data)

    async def _send(self, session: _Session, event: str, data: JSON) -> None:
        session.sequence += 1
        frame = json.dumps({"op": OP_DISPATCH, "t": event, "s": session.sequence, "d": data})
        session.sent.append((session.sequence, frame))
        if session.ws is None or session.ws.closed:
            return
        try:
            await session.ws.send_str(frame)
        except ConnectionError:
            # The socket closed under us; the frame waits in `sent` for a RESUME.
            session.ws = None
            self._update_identified()

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
        commands = await _read_json(request)
        _refuse(commands_errors(commands))
        for command in commands:
            key = (command["name"], command.get("type", CHAT_INPUT))
            entry: JSON = {
                "type": CHAT_INPUT,
                # Context menu commands are sent without one; Discord echoes an empty one, and
                # discord.py's AppCommand requires the key.
                "description": "",
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

    def _synced_command(self, name: str, guild: bool, kind: int) -> tuple[int | None, JSON]:
        # Guild commands exist only in their guild; global ones everywhere.
        scopes: list[int | None] = [self.GUILD_ID, None] if guild else [None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and command["type"] == kind:
                    return scope, command
        where = "to the guild or globally" if guild else "globally (needed in DMs)"
        what = f"/{name}" if kind == CHAT_INPUT else f"the type {kind} command {name!r}"
        raise ValueError(f"{what} was not synced {where}; {self.describe()}")

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
        allowed = ALLOWED_CALLBACKS[interaction.type]
        if interaction.message is None:
            # Types 6 and 7 update the message a button is on; without one they do not apply.
            allowed = allowed - {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}
        if kind not in allowed:
            raise _ApiError(
                400, 50035, "Invalid Form Body", {"type": _invalid_value(kind, allowed)}
            )
        if (
            kind in CHANNEL_WRITING_CALLBACKS
            and self.channel_deleted
            and interaction.channel_id == self.CHANNEL_ID
        ):
            raise _ApiError(404, 10003, "Unknown Channel")
        if kind == CHANNEL_MESSAGE:
            _check_uploads(uploads, interaction.attachment_size_limit)
            _check_message(data, uploads, creating=True, at=("data",))
            interaction.original = self._new_message(
                "original", interaction.channel_id, data, uploads, interaction=interaction
            )
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            interaction.thinking_message_id = self._ids.next()
        elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            message = interaction.message
            assert message is not None
            if message.deleted:
                raise _ApiError(404, 10008, "Unknown Message")
            if kind == UPDATE_MESSAGE:
                _check_uploads(uploads, interaction.attachment_size_limit)
                _check_message(data, uploads, creating=False, at=("data",))
                self._edit_message(message, data, uploads)
            # From now on "@original" is the message the button is on.
            interaction.original = message
        elif kind == AUTOCOMPLETE_RESULT:
            _refuse(choices_errors(data), ("data",))
        elif kind == MODAL:
            _refuse(modal_errors(data), ("data",))
            interaction.modal = data
        interaction.callbacks.append((kind, data, received))
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        return _json(self._callback_response(interaction, kind))

    def _callback_response(self, interaction: FakeInteraction, kind: int) -> JSON:
        """The ?with_response=1 body: the interaction's state and the message it now has."""
        summary: JSON = {"id": str(interaction.id), "type": interaction.type}
        resource: JSON = {"type": kind}
        # Discord names a message only for the callbacks that create, update or defer one.
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE) and interaction.original is not None:
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
        if self.channel_deleted and interaction.channel_id == self.CHANNEL_ID:
            # The webhook writes into the channel: with the channel gone, so is the message.
            raise _ApiError(404, 10003, "Unknown Channel")
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
        if channel_id == self.CHANNEL_ID:
            if self.channel_deleted:
                raise _ApiError(404, 10003, "Unknown Channel")
            if self.channel_forbidden:
                raise _ApiError(403, 50013, "Missing Permissions")
        elif channel_id not in self._dm_channels.values():
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
        nonce = payload.get("nonce")
        # Every channel post here comes from the one bot user, so (channel, nonce) identifies
        # "the same author's nonce" in Discord's dedupe rule.
        key = (channel_id, str(nonce))
        now = self.clock()
        if nonce is not None and payload.get("enforce_nonce"):
            earlier = self._nonces.get(key)
            if earlier is not None and now - earlier[0] <= NONCE_WINDOW_SECONDS:
                self.deduplicated_nonces += 1
                return _json(self._message_payload(earlier[1]) | {"nonce": nonce})
        # Only interaction responses can be ephemeral; Discord ignores the flag elsewhere.
        flags = (payload.get("flags") or 0) & ~EPHEMERAL
        message = self._new_message("channel", channel_id, payload, uploads, flags=flags)
        message.nonce = nonce
        if nonce is not None and payload.get("enforce_nonce"):
            self._nonces[key] = (now, message)
        self.channel_messages.append(message)
        # The nonce comes back in the answer to the post (and MESSAGE_CREATE), not later.
        answer = self._message_payload(message)
        if nonce is not None:
            answer["nonce"] = nonce
        return _json(answer)

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
        url, proxy_url = self._cdn_urls(folder, attachment_id, filename)
        attachment: JSON = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": proxy_url,
        }
        if content_type is not None:
            attachment["content_type"] = content_type
        return attachment

    def _cdn_urls(self, folder: str, attachment_id: int, filename: str) -> tuple[str, str]:
        path = f"{folder}/{attachment_id}/{quote(filename, safe='')}"
        # Real CDN links are signed; keeping the query makes URL handling in the bot realistic.
        issued = int(time.time())
        signature = f"?ex={issued + 86_400:x}&is={issued:x}&hm={secrets.token_hex(32)}&"
        return f"{self.base_url}/cdn/{path}{signature}", f"{self.base_url}/media/{path}{signature}"

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


def _routes_to(session: _Session, guild_id: int | None) -> bool:
    """Whether Discord sends a guild's events (None: direct messages) to this session: with
    sharding, guild events go to shard (guild_id >> 22) % shard_count, direct messages to 0."""
    if session.shard is None:
        return True
    shard_id, shard_count = session.shard
    if guild_id is None:
        return shard_id == 0
    return (guild_id >> 22) % shard_count == shard_id


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


def _check_message(
    payload: JSON, uploads: Sequence[_Upload], *, creating: bool, at: Sequence[str] = ()
) -> None:
    """Refuse what Discord refuses: empty new messages, and anything over Discord's limits.

    `at`: where the message sits in the request body (``data`` in an interaction callback).
    """
    content_keys = ("content", "embeds", "components", "attachments", "sticker_ids", "poll")
    if creating and not uploads and not any(payload.get(key) for key in content_keys):
        raise _ApiError(400, 50006, "Cannot send an empty message")
    _refuse(message_errors(payload), at)


def _refuse(errors: JSON, at: Sequence[str] = ()) -> None:
    """Answer Discord's 400 Invalid Form Body when a check found anything."""
    if not errors:
        return
    for key in reversed(at):
        errors = {key: errors}
    raise _ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


def _invalid_value(value: object, allowed: Iterable[int]) -> JSON:
    message = f"Value must be one of {sorted(allowed)}, not {value!r}."
    return {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": message}]}


def _check_options(
    command: str, schema: Sequence[JSON], given: Sequence[JSON], *, partial: bool = False
) -> None:
    """Discord only sends options that match the synced schema; so must the tests.

    `partial`: what an autocomplete sends, before the user has filled in required options.
    """
    known = {option["name"]: option for option in schema}
    subcommands = [o["name"] for o in schema if o["type"] in SUBCOMMAND_TYPES]
    if subcommands and (len(given) != 1 or given[0]["type"] not in SUBCOMMAND_TYPES):
        # A command with subcommands cannot itself be run: the user always picks one.
        raise ValueError(f"/{command} needs exactly one of its subcommands {subcommands}")
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
            inner = option.get("options") or []
            _check_options(nested, expected.get("options") or [], inner, partial=partial)
        elif not partial:
            _check_range(command, expected, option["value"])
    if partial:
        return
    names = {option["name"] for option in given}
    missing = [o["name"] for o in schema if o.get("required") and o["name"] not in names]
    if missing:
        raise ValueError(f"/{command} needs the options {missing}")


def _check_range(command: str, expected: JSON, value: Any) -> None:
    """Discord's client sends no number outside the option's min_value/max_value, and no text
    outside its min_length/max_length."""
    if isinstance(value, str) and expected["type"] == 3:
        measured, low, high = len(value), expected.get("min_length"), expected.get("max_length")
    elif isinstance(value, int | float) and expected["type"] in (4, 10):
        measured, low, high = value, expected.get("min_value"), expected.get("max_value")
    else:
        return
    if (low is not None and measured < low) or (high is not None and measured > high):
        raise ValueError(
            f"/{command} option {expected['name']!r} takes {low}–{high}"
            f"{' characters' if isinstance(value, str) else ''}: Discord does not send {value!r}"
        )


def _qualified_name(command: str, group: str | None, subcommand: str | None) -> str:
    return " ".join(part for part in (command, group, subcommand) if part)


def _nest_options(options: list[JSON], subcommand: str | None, group: str | None) -> list[JSON]:
    """Wrap a subcommand's options in its type 1 option, and that in its group's type 2."""
    if group is not None and subcommand is None:
        raise ValueError(f"the subcommand group {group!r} needs a subcommand")
    if subcommand is None:
        return options
    # Discord sends "options" on a subcommand even when it is empty.
    nested = [{"name": subcommand, "type": SUB_COMMAND, "options": options}]
    if group is not None:
        nested = [{"name": group, "type": SUB_COMMAND_GROUP, "options": nested}]
    return nested


def _leaf_schema(
    command: str, registered: JSON, group: str | None, subcommand: str | None
) -> list[JSON]:
    """The synced options of the (sub)command that `group` and `subcommand` name."""
    options: list[JSON] = registered.get("options") or []
    path = command
    for name in (group, subcommand):
        if name is None:
            continue
        found = next(
            (o for o in options if o["name"] == name and o["type"] in SUBCOMMAND_TYPES), None
        )
        if found is None:
            raise ValueError(f"/{path} has no subcommand or group {name!r}")
        options = found.get("options") or []
        path = f"{path} {name}"
    return options


def _response_message_type(interaction: FakeInteraction) -> int:
    if interaction.type != APPLICATION_COMMAND:
        return MESSAGE_DEFAULT
    if interaction.payload["data"].get("type", CHAT_INPUT) == CHAT_INPUT:
        return MESSAGE_CHAT_INPUT_COMMAND
    return MESSAGE_CONTEXT_MENU_COMMAND


def _walk_components(components: Iterable[JSON]) -> Iterator[JSON]:
    """Every component in a message or modal tree, depth first, in display order."""
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in NESTED_COMPONENT_KEYS:
            child = component.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


def _modal_submission(modal: JSON, values: Mapping[str, str | Sequence[str]]) -> list[JSON]:
    """The components of a MODAL_SUBMIT for `modal` filled in with `values`.

    Discord sends back every component of the modal in its declared layout (rows with
    ``components``, labels with ``component``), each with its numeric ``id``: declared ones
    kept, the others numbered in order.
    """
    tree = list(_walk_components(modal["components"]))
    unknown = sorted(set(values) - {c["custom_id"] for c in tree if "custom_id" in c})
    if unknown:
        raise ValueError(f"the modal {modal['custom_id']!r} has no inputs {unknown}")
    declared = {c["id"] for c in tree if "id" in c}
    free_ids = (n for n in itertools.count(1) if n not in declared)

    def submitted(component: JSON) -> JSON:
        kind = component["type"]
        entry: JSON = {"type": kind, "id": component.get("id") or next(free_ids)}
        if "components" in component:
            entry["components"] = [submitted(child) for child in component["components"]]
        if "component" in component:
            entry["component"] = submitted(component["component"])
        custom_id = component.get("custom_id")
        if custom_id is None:
            return entry  # layout and text: nothing to fill in
        entry["custom_id"] = custom_id
        given = values.get(custom_id)
        if kind == TEXT_INPUT:
            entry["value"] = _text_input_value(component, given)
        elif kind == STRING_SELECT:
            entry["values"] = _select_values(component, given)
        elif given is not None:
            raise ValueError(f"the fake fills only text inputs and string selects, not {kind}")
        elif kind != CHECKBOX and component.get("required", True):
            raise ValueError(f"the modal's required component {custom_id!r} cannot be filled")
        else:
            entry |= {"value": False} if kind == CHECKBOX else {"values": []}
        return entry

    return [submitted(component) for component in modal["components"]]


def _text_input_value(component: JSON, given: str | Sequence[str] | None) -> str:
    """What the user submits: `given`, or the pre-filled value; the client enforces limits."""
    custom_id = component["custom_id"]
    if given is not None and not isinstance(given, str):
        raise ValueError(f"the text input {custom_id!r} takes a str, not {given!r}")
    value = (component.get("value") or "") if given is None else given
    if not value:
        if component.get("required", True):
            raise ValueError(f"the text input {custom_id!r} is required")
        return value
    low = component.get("min_length") or 0
    high = component.get("max_length") or COMPONENT_LIMITS[TEXT_INPUT][("value",)].most
    if not low <= len(value) <= high:
        raise ValueError(f"the text input {custom_id!r} takes {low}-{high} characters")
    return value


def _select_values(component: JSON, given: str | Sequence[str] | None) -> list[str]:
    custom_id = component["custom_id"]
    options = [option["value"] for option in component.get("options") or []]
    if given is None:
        chosen = [o["value"] for o in component.get("options") or [] if o.get("default")]
    else:
        chosen = [given] if isinstance(given, str) else list(given)
    unknown = [value for value in chosen if value not in options]
    if unknown:
        raise ValueError(f"the select {custom_id!r} has no options {unknown}; it has {options}")
    if not chosen and not component.get("required", True):
        return chosen
    low, high = component.get("min_values", 1), component.get("max_values", 1)
    if not low <= len(chosen) <= high:
        raise ValueError(f"the select {custom_id!r} takes {low}-{high} values, not {chosen}")
    return chosen


# -- fault injection: Discord failing as it does in production -----------------------------------

# What a faulty answer is. "503" and "500" are Discord's server errors (discord.py retries 500
# on every route and 503 only on interaction webhooks); "429" is Discord's own rate limit
# (a `Via` header and a JSON `retry_after`: discord.py waits and retries); "429-cloudflare" the
# same answer without `Via`, which discord.py takes for a Cloudflare ban and never retries;
# "drop" closes the connection before the request is carried out, "drop-after" after it was
# (the message exists, the answer is lost).
DiscordFaultKind = Literal["503", "500", "429", "429-cloudflare", "drop", "drop-after"]
# The routes a test can make fail, by what they do.
RouteFamily = Literal[
    "interaction_edit",  # PATCH /webhooks/{app}/{token}/messages/{id}: the card, @original
    "interaction_delete",  # DELETE /webhooks/{app}/{token}/messages/{id}
    "interaction_followup",  # POST /webhooks/{app}/{token}: followups, private notices
    "channel_post",  # POST /channels/{guild channel}/messages
    "dm_open",  # POST /users/@me/channels
    "dm_post",  # POST /channels/{DM channel}/messages
]
DISCORD_FAULT_KINDS: tuple[DiscordFaultKind, ...] = get_args(DiscordFaultKind)
# Discord's 503 comes from its proxy, as text (discord.py then holds a str, not JSON).
UNAVAILABLE_TEXT = (
    "upstream connect error or disconnect/reset before headers. reset reason: overflow"
)
RATE_LIMIT_RETRY_AFTER = 0.05  # seconds, in a 429's body: short, so tests need not wait
_WEBHOOK_MESSAGE = re.compile(rf"{API_PREFIX}/webhooks/\d+/[^/]+/messages/[^/]+")
_WEBHOOK = re.compile(rf"{API_PREFIX}/webhooks/\d+/[^/]+")
_CHANNEL_MESSAGES = re.compile(rf"{API_PREFIX}/channels/(\d+)/messages")


@dataclass(frozen=True)
class GivenFault:
    """A faulty answer the fake gave: to which route family, which fault, on which path."""

    family: RouteFamily
    kind: DiscordFaultKind
    method: str
    path: str


class DiscordFaults:
    """The next requests of a route family answered with faults instead of normally.

    `fail_next("channel_post", "503", times=3)` makes the next three channel posts answer 503;
    faults queued for one family are given in order, one per request. Every fault given is
    recorded in `given`.
    """

    def __init__(self, *, guild_channels: Iterable[int], changed: Callable[[], None]) -> None:
        self.given: list[GivenFault] = []
        self._queued: dict[RouteFamily, deque[DiscordFaultKind]] = {}
        self._guild_channels = frozenset(guild_channels)
        self._changed = changed

    def fail_next(self, family: RouteFamily, kind: DiscordFaultKind, *, times: int = 1) -> None:
        if family not in get_args(RouteFamily):
            raise ValueError(f"unknown route family {family!r}")
        if kind not in DISCORD_FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        self._queued.setdefault(family, deque()).extend([kind] * times)

    def pending(self, family: RouteFamily | None = None) -> int:
        """Faults not given yet (for one family, or all)."""
        if family is not None:
            return len(self._queued.get(family, ()))
        return sum(len(queued) for queued in self._queued.values())

    def clear(self) -> None:
        self._queued.clear()

    def count(self, family: RouteFamily | None = None) -> int:
        """Faults given so far (to one family, or all)."""
        return sum(1 for fault in self.given if family is None or fault.family == family)

    def family_of(self, request: web.Request) -> RouteFamily | None:
        path, method = request.path, request.method
        if _WEBHOOK_MESSAGE.fullmatch(path):
            if method == "PATCH":
                return "interaction_edit"
            return "interaction_delete" if method == "DELETE" else None
        if method != "POST":
            return None
        if _WEBHOOK.fullmatch(path):
            return "interaction_followup"
        if path == f"{API_PREFIX}/users/@me/channels":
            return "dm_open"
        channel = _CHANNEL_MESSAGES.fullmatch(path)
        if channel is not None:
            return "channel_post" if int(channel[1]) in self._guild_channels else "dm_post"
        return None

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        family = self.family_of(request)
        queued = self._queued.get(family) if family is not None else None
        if not queued:
            return await handler(request)
        assert family is not None
        kind = queued.popleft()
        self.given.append(GivenFault(family, kind, request.method, request.path))
        try:
            return await self._answer(request, handler, kind)
        finally:
            self._changed()

    async def _answer(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        kind: DiscordFaultKind,
    ) -> web.StreamResponse:
        if kind == "drop-after":
            response = await handler(request)  # Discord did it; only its answer is lost
            _drop(request)
            return response
        await request.read()  # the client has sent everything, as before a real drop
        if kind == "drop":
            _drop(request)
            return web.Response(status=204)
        if kind == "503":
            return web.Response(status=503, text=UNAVAILABLE_TEXT)
        if kind == "500":
            return _json({"message": "500: Internal Server Error", "code": 0}, status=500)
        body = {"message": "You are being rate limited.", "retry_after": RATE_LIMIT_RETRY_AFTER}
        response = _json(body | {"global": False}, status=429)
        response.headers["Retry-After"] = "1"
        response.headers["X-RateLimit-Scope"] = "user"
        if kind == "429":
            response.headers["Via"] = "1.1 google"
        return response


def _drop(request: web.Request) -> None:
    """Close the connection without an answer: the client sees the server disconnect."""
    if request.transport is not None:
        request.transport.close()
