"""Shared fixtures: loopback-only networking, the two fakes, the real bot running against them."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from bot.posebot import PoseBot
from bot.settings import Settings
from tests.fake_discord import FakeDiscord
from tests.fake_segmind import API_KEY, FakeSegmind

BOT_TOKEN = "fake-bot-token-for-tests"


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like never leave the machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that tries to reach beyond 127.0.0.1: no real Discord, no real Segmind."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise AssertionError(f"test tried to connect to {host!r}: only loopback is allowed")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host is not None:
            check((host, 0))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
async def segmind() -> AsyncIterator[FakeSegmind]:
    fake = FakeSegmind()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def discord_api() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    fake.install()
    try:
        yield fake
    finally:
        fake.uninstall()
        await fake.close()


@pytest.fixture
def make_settings(segmind: FakeSegmind) -> Callable[..., Settings]:
    """Production settings pointed at the fakes; tests override single fields."""

    def make(**overrides: Any) -> Settings:
        base = Settings(
            discord_token=BOT_TOKEN,
            segmind_api_key=API_KEY,
            segmind_base_url=segmind.base_url,
            discord_guild_id=FakeDiscord.GUILD_ID,
            segmind_poll_seconds=0.05,
            segmind_timeout_seconds=20,
        )
        return dataclasses.replace(base, **overrides)

    return make


StartBot = Callable[..., Awaitable[PoseBot]]


@pytest.fixture
async def start_bot(
    discord_api: FakeDiscord, make_settings: Callable[..., Settings]
) -> AsyncIterator[StartBot]:
    """Start the real bot, exactly as `python -m bot` builds it, against the fakes."""
    running: list[tuple[PoseBot, aiohttp.ClientSession, asyncio.Task[None]]] = []

    async def start(clock: Callable[[], float] | None = None, **overrides: Any) -> PoseBot:
        settings = make_settings(**overrides)
        session = aiohttp.ClientSession()
        extra = {"clock": clock} if clock else {}
        bot = PoseBot(settings, session, **extra)
        await bot.__aenter__()
        task = asyncio.create_task(bot.start(settings.discord_token))
        running.append((bot, session, task))
        await discord_api.wait_identified()
        await discord_api.wait_for(lambda: bool(discord_api.synced_commands))
        return bot

    yield start
    for bot, session, task in running:
        if not bot.is_closed():
            await bot.shutdown(grace=5)
        await asyncio.wait_for(task, timeout=10)
        await session.close()
