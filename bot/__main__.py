"""Entry point: `python -m bot` (the Procfile's worker), and `python -m bot check [--offline]`,
the setup check (bot/check/)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys

import aiohttp
import asyncpg
import discord

from bot import logfmt
from bot.check.discord_setup import token_refused
from bot.check.findings import Level
from bot.check.permissions import privileged_intents
from bot.check.run import check, offline_findings
from bot.memory import collect_cycles_less_often, return_large_buffers_to_the_system
from bot.posebot import PoseBot, bot_class
from bot.settings import Settings, SettingsError
from bot.storage.database import connect, describe_url
from bot.storage.job_store import JobStore

log = logging.getLogger("bot")
# At DEBUG these write secrets and megabytes: discord.py's HTTP and webhook requests with
# their URLs (an interaction's token is in the URL) and bodies, every gateway event (each
# interaction carries its token), and every statement's parameters (tokens, image bytes).
# They stay at INFO whatever LOG_LEVEL says.
QUIET_LOGGERS = ("discord.http", "discord.webhook", "discord.gateway", "aiosqlite", "asyncpg")


class StoreUnavailable(Exception):
    """The database could not be opened; the message says where and why, without secrets."""


class IntentsRefused(Exception):
    """Discord closed the gateway with 4014: the message names the intents and the fix."""


async def open_store(url: str | None) -> JobStore:
    where = describe_url(url)
    log.info("opening the job store at %s", where)
    try:
        store = JobStore(await connect(url))
        await store.migrate()
    except (OSError, TimeoutError, asyncpg.PostgresError, sqlite3.Error) as error:
        raise StoreUnavailable(f"cannot open the job store at {where}: {error}") from None
    return store


async def run(settings: Settings) -> None:
    await _log_offline_check(settings)
    store = await open_store(settings.database_url)
    try:
        async with (
            aiohttp.ClientSession() as session,
            bot_class(settings)(settings, session, store) as bot,
        ):
            try:
                await _serve(bot, settings)
            except discord.PrivilegedIntentsRequired:
                raise IntentsRefused(_intents_refused(bot.intents)) from None
    finally:
        await store.close()


async def _log_offline_check(settings: Settings) -> None:
    """What `python -m bot check --offline` finds, in the log: a problem is seen at start-up,
    not when a user meets it. The bot starts all the same."""
    findings = await offline_findings(settings)
    for finding in findings:
        if finding.level is not Level.OK:
            log.warning("setup check: %s", finding.line())
    log.info("setup check (offline): %d finding(s), see `python -m bot check`", len(findings))


def _intents_refused(intents: discord.Intents) -> str:
    asked = privileged_intents(intents)
    if asked:
        return (
            f"Discord refused the gateway (4014): the bot asked for the {', '.join(asked)} "
            "intent(s), which it does not need; this version asks for none"
        )
    return (
        "Discord refused the gateway (4014, disallowed intents) although the bot asks for no "
        "privileged intent (Presence, Server Members, Message Content): it needs none; check "
        "that this is the bot's own code and token"
    )


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
    # The searchable lines are the record an operator counts on, one per event: kept at
    # every level, as a quieter LOG_LEVEL is asked for the chatter, not for them.
    logging.getLogger(logfmt.log.name).setLevel(min(level, logging.INFO))


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if arguments.command == "check":
        # Only problems from the libraries: the check's own lines are the output.
        logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
        try:
            return 0 if asyncio.run(check(offline=arguments.offline)) else 1
        except Exception as error:  # one line, as every finding: never a traceback
            print(f"the check stopped: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    return_large_buffers_to_the_system()
    collect_cycles_less_often()
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
        refused = token_refused()
        log.error("%s; %s", refused.text, refused.fix)
        return 2
    except IntentsRefused as error:
        log.error("%s", error)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the bot.")
    commands = parser.add_subparsers(dest="command")
    checking = commands.add_parser(
        "check", help="check the setup and say what to fix (exit status 1 if anything is needed)"
    )
    checking.add_argument(
        "--offline", action="store_true", help="the configuration and the database only"
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
