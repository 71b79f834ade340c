"""Shared fixtures: loopback-only networking, the two fakes, the real bot running against them."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.posebot import PoseBot, bot_class
from bot.settings import Settings
from bot.storage.database import connect
from bot.storage.job_store import Job, JobStore
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import API_KEY, FakeSegmind

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
async def discord_api(request: pytest.FixtureRequest) -> AsyncIterator[FakeDiscord]:
    """The fake Discord. A test fails if the bot sent anything Discord refuses as an invalid
    body (over a size limit, say), even when the bot carried on as if nothing happened."""
    fake = FakeDiscord()
    await fake.start()
    fake.install()
    try:
        yield fake
    finally:
        fake.uninstall()
        await fake.close()
    if "invalid_bodies_expected" not in request.keywords:
        refused = "\n".join(map(str, fake.invalid_bodies()))
        assert not refused, f"Discord would refuse what the bot sent:\n{refused}"


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
    discord_api: FakeDiscord, make_settings: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[StartBot]:
    """Start the real bot, built as `python -m bot` builds it, against the fakes.

    Each start opens the store anew (a SQLite file in tmp_path unless `database_url` says
    otherwise), so starting twice with the same store is a restart.
    """
    running: list[tuple[PoseBot, aiohttp.ClientSession, asyncio.Task[None]]] = []

    async def start(clock: Callable[[], float] | None = None, **overrides: Any) -> PoseBot:
        overrides.setdefault("database_url", f"sqlite:///{tmp_path / 'bot.db'}")
        settings = make_settings(**overrides)
        store = JobStore(await connect(settings.database_url))
        await store.migrate()
        session = aiohttp.ClientSession()
        extra = {"clock": clock} if clock else {}
        bot = bot_class(settings)(settings, session, store, **extra)
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
        await bot.store.close()


# PostgreSQL: real, on loopback. CI starts it; elsewhere its tests skip with this reason.
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
NO_POSTGRES = (
    f"PostgreSQL is not reachable at {POSTGRES_URL}: start it "
    "(`pg_ctlcluster 15 main start` on Debian) or set TEST_DATABASE_URL to run these tests"
)


async def _postgres_reachable() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database of each kind: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    if not await _postgres_reachable():
        if os.environ.get("REQUIRE_POSTGRES"):
            pytest.fail(NO_POSTGRES)
        pytest.skip(NO_POSTGRES)
    schema = f"test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        # The schemas of earlier tests go now: their bots have surely stopped, whereas at the
        # end of their own test a bot may still be shutting down (its fixture can end after
        # this one) and would find its tables gone.
        await _drop_schemas(admin)
        await admin.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await admin.close()
    _SCHEMAS_TO_DROP.append(schema)
    # asyncpg passes unknown URL parameters on as server settings.
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}search_path={schema}"


# PostgreSQL schemas of finished tests, dropped by the next test that makes one, or at the end.
_SCHEMAS_TO_DROP: list[str] = []


async def _drop_schemas(admin: asyncpg.Connection) -> None:
    while _SCHEMAS_TO_DROP:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{_SCHEMAS_TO_DROP[-1]}" CASCADE')
        _SCHEMAS_TO_DROP.pop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _SCHEMAS_TO_DROP:
        return

    async def drop() -> None:
        admin = await asyncpg.connect(POSTGRES_URL)
        try:
            await _drop_schemas(admin)
        finally:
            await admin.close()

    asyncio.run(drop())


async def stored_jobs(
    store: JobStore, state: str, count: int = 1, timeout: float = 10
) -> list[Job]:
    """Wait until the store holds `count` jobs in `state`; return them."""
    deadline = time.monotonic() + timeout
    while len(jobs := await store.jobs([state])) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(jobs)} job(s) {state} after {timeout} s, not {count}")
        await asyncio.sleep(0.02)
    return jobs
