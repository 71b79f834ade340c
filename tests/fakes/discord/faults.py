"""Discord failing as it does in production: 5xx, 429 and dropped connections on the routes a
result or a notice takes."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from aiohttp import web

from tests.discord_address import API_PREFIX
from tests.fakes.discord.protocol import _json

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
