"""Discord's numbers and rules as the fake applies them, its error answer, and small records."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

JSON = dict[str, Any]

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
