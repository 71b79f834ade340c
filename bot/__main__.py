"""Entry point: `python -m bot` (the Procfile's worker)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys

import aiohttp
import asyncpg
import discord

from bot.memory import return_large_buffers_to_the_system
from bot.posebot import PoseBot, bot_class
from bot.settings import Settings, SettingsError
from bot.storage.database import connect, describe_url
from bot.storage.job_store import Store

log = logging.getLogger("bot")
# At DEBUG these write secrets and megabytes: discord.py's HTTP and webhook requests with
# their URLs (an interaction's token is in the URL) and bodies, every gateway event (each
# interaction carries its token), and every statement's parameters (tokens, image bytes).
# They stay at INFO whatever LOG_LEVEL says.
QUIET_LOGGERS = ("discord.http", "discord.webhook", "discord.gateway", "aiosqlite", "asyncpg")


class StoreUnavailable(Exception):
    """The database could not be opened; the message says where and why, without secrets."""


async def open_store(url: str | None) -> Store:
    where = describe_url(url)
    log.info("opening the job store at %s", where)
    try:
        store = Store(await connect(url))
        await store.migrate()
    except (OSError, TimeoutError, asyncpg.PostgresError, sqlite3.Error) as error:
        raise StoreUnavailable(f"cannot open the job store at {where}: {error}") from None
    return store


async def run(settings: Settings) -> None:
    store = await open_store(settings.database_url)
    try:
        async with (
            aiohttp.ClientSession() as session,
            bot_class(settings)(settings, session, store) as bot,
        ):
            await _serve(bot, settings)
    finally:
        await store.close()


async def _serve(bot: PoseBot, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def request_shutdown(signame: str) -> None:
        if not stopping:
            log.info("received %s", signame)
            # SIGTERM is a platform's restart: keep answering until the next process does.
            # SIGINT is a person at a terminal: no one is coming.
            handover = settings.shutdown_handover_seconds if signame == "SIGTERM" else 0.0
            stopping.append(loop.create_task(bot.shutdown(handover=handover)))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_shutdown, sig.name)
    if settings.has_gateway:
        await bot.start(settings.discord_token)
    else:
        # A worker needs Discord's REST API only (to post results), not a gateway session.
        await bot.login(settings.discord_token)
        log.info("worker logged in over REST; running jobs")
        await bot.wait_closed()
    if stopping:
        await stopping[0]


def setup_logging(level_name: str) -> None:
    level = getattr(logging, level_name)
    # Plain lines on stdout: the platform collects them, and colour codes would be noise there.
    discord.utils.setup_logging(
        handler=logging.StreamHandler(sys.stdout),
        formatter=logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"),
        level=level,
        root=True,
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.INFO))


def main() -> int:
    return_large_buffers_to_the_system()
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        asyncio.run(run(settings))
    except StoreUnavailable as error:
        log.error("%s", error)
        return 1
    except aiohttp.ClientConnectionError as error:
        log.error("cannot reach Discord: %s; check the network and try again", error)
        return 1
    except discord.LoginFailure:
        log.error(
            "Discord refused DISCORD_TOKEN: copy the bot token again from the Developer Portal"
        )
        return 2
    except discord.PrivilegedIntentsRequired:
        log.error("Discord refused the connection: this bot needs no privileged intents")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
