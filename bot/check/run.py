"""`python -m bot check`: every part of the setup checked, one line per finding, exit status 0
when everything the bot needs holds and 1 otherwise. `--offline` checks the configuration and
the database only; the bot logs that part at every start (`offline_findings`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import aiohttp
import discord

from bot.check.configuration import configuration_findings, read_settings
from bot.check.database import DATABASE_ERRORS, database_findings, open_existing
from bot.check.discord_setup import RulesOf, discord_findings
from bot.check.findings import Finding, Level, all_hold
from bot.check.segmind_account import segmind_findings
from bot.domain.server_rules import ServerSettings
from bot.posebot import COMMANDS_FACT, bot_class
from bot.settings import Settings
from bot.storage.database import Database, connect
from bot.storage.job_store import JobStore
from bot.storage.server_store import ServerSettingsStore

Show = Callable[[Finding], None]


def _print(finding: Finding) -> None:
    print(finding.line(), flush=True)


async def offline_findings(settings: Settings) -> list[Finding]:
    """The configuration and the database: what needs no network but the database's."""
    return configuration_findings(os.environ, settings) + await database_findings(settings)


async def check(*, offline: bool, show: Show = _print) -> bool:
    """Run the check, showing each finding as it comes; whether everything needed holds."""
    findings: list[Finding] = []

    def report(new: list[Finding]) -> None:
        for finding in new:
            show(finding)
        findings.extend(new)

    settings, problems = read_settings()
    report(problems)
    # Names that look like the bot's even when the settings cannot be read: a misspelled
    # DISCORD_TOKEN is why DISCORD_TOKEN is not set.
    report(configuration_findings(os.environ, settings))
    if settings is not None:
        report(await database_findings(settings))
    if settings is not None and not offline:
        async with aiohttp.ClientSession() as session:
            report(await segmind_findings(session, settings))
            report(await _discord(settings, session))
    failed = sum(finding.level is Level.FAIL for finding in findings)
    if failed:
        print(f"{failed} problem(s) to fix: see the FAIL lines above", flush=True)
    else:
        print("everything the bot needs holds", flush=True)
    return all_hold(findings)


async def _discord(settings: Settings, session: aiohttp.ClientSession) -> list[Finding]:
    commands, intents = await _this_version(settings, session)
    database = await open_existing(settings.database_url)
    try:
        return await discord_findings(
            settings.discord_token,
            intents=intents,
            commands=commands,
            guild_id=settings.discord_guild_id,
            rules_of=_rules_reader(database),
            forget_registration=lambda: _forget_registration(database),
        )
    finally:
        if database is not None:
            await database.close()


async def _this_version(
    settings: Settings, session: aiohttp.ClientSession
) -> tuple[list[dict[str, Any]], discord.Intents]:
    """The commands this version registers, and the intents it asks for: from the bot itself,
    built with its cogs but never started (on a throwaway database, as it stores nothing)."""
    store = JobStore(await connect("sqlite:///:memory:"))
    try:
        bot = bot_class(settings)(settings, session, store)
        await bot.load_commands()
        return await bot.command_payloads(), bot.intents
    finally:
        await store.close()


async def _forget_registration(database: Database | None) -> None:
    if database is None:
        return  # no record to forget: the next start registers the commands
    with contextlib.suppress(*DATABASE_ERRORS):
        await JobStore(database).set_fact(COMMANDS_FACT, None)


def _rules_reader(database: Database | None) -> RulesOf:
    servers = ServerSettingsStore(database) if database is not None else None

    async def rules_of(guild_id: int) -> ServerSettings | None:
        if servers is None:
            return None  # no database: every channel is looked at
        try:
            return await servers.get(guild_id)
        except DATABASE_ERRORS:
            return None  # not migrated yet, say: no server has rules yet

    return rules_of
