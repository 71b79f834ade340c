"""The fake's gateway: sessions that outlive their sockets, RESUME with replay, and shard
routing of events."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import deque
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.fakes.discord.protocol import (
    APPLICATION_FLAGS,
    HEARTBEAT_INTERVAL_MS,
    JSON,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_RECONNECT,
    OP_RESUME,
    REPLAY_FRAMES,
    SESSION_ENDING_CLOSE_CODES,
)


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


class Gateway:
    """FakeDiscord's websocket gateway (its state is set up in `FakeDiscord.__init__`)."""

    async def wait_identified(self, timeout: float = 10) -> None:
        """Wait until the bot has a live gateway session (READY and GUILD_CREATE sent)."""
        try:
            await asyncio.wait_for(self._identified.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"the bot did not identify on the fake gateway within {timeout} s\n"
                f"{self.describe()}"
            ) from None

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
        elif op == OP_IDENTIFY and self.disallowed_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
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


def _routes_to(session: _Session, guild_id: int | None) -> bool:
    """Whether Discord sends a guild's events (None: direct messages) to this session: with
    sharding, guild events go to shard (guild_id >> 22) % shard_count, direct messages to 0."""
    if session.shard is None:
        return True
    shard_id, shard_count = session.shard
    if guild_id is None:
        return shard_id == 0
    return (guild_id >> 22) % shard_count == shard_id
