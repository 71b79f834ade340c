"""The database part of the setup check: reachable, its migrations current, its size against
STORAGE_BUDGET_MB and, on PostgreSQL, its connections against the plan's limit. It only reads:
migrations are the bot's to apply, at start-up."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import asyncpg

from bot.check.findings import Finding, fail, ok, warn
from bot.domain.retention import MB
from bot.settings import Settings
from bot.storage.database import DEFAULT_SQLITE_PATH, Database, connect, describe_url
from bot.storage.job_store import JobStore
from bot.storage.migrations import MIGRATIONS
from bot.storage.retention import database_bytes

AREA = "database"
CONNECT_TIMEOUT_SECONDS = 15.0
# Each bot process holds up to this many connections: its pool (5) and the one that listens.
CONNECTIONS_PER_PROCESS = 6
# Past this share of the storage budget, a warning.
NEARLY_FULL = 0.9
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, sqlite3.Error, ValueError)


async def database_findings(settings: Settings) -> list[Finding]:
    url = settings.database_url
    where = describe_url(url)
    sqlite_path = _sqlite_path(url)
    if sqlite_path is not None and not await asyncio.to_thread(Path(sqlite_path).exists):
        if not await asyncio.to_thread(_can_make, Path(sqlite_path)):
            return [
                fail(
                    AREA,
                    f"cannot open {where}: its folder cannot be made or written to",
                    "check DATABASE_URL: name a file in a folder the bot may write",
                )
            ]
        return [ok(AREA, f"{where} does not exist yet: the bot makes it at its first start")]
    try:
        database = await asyncio.wait_for(connect(url), CONNECT_TIMEOUT_SECONDS)
    except DATABASE_ERRORS as error:
        return [
            fail(
                AREA,
                f"cannot open {where}: {_reason(error)}",
                "check DATABASE_URL and that the database is up (Heroku: heroku pg:info)",
            )
        ]
    try:
        findings = [ok(AREA, f"{where} is reachable ({database.dialect})")]
        findings.append(await migration_finding(database))
        findings.append(await size_finding(database, settings.storage_budget_mb))
        if database.dialect == "postgres":
            findings.append(await connections_finding(database))
        return findings
    except DATABASE_ERRORS as error:
        return [fail(AREA, f"{where} answered with an error: {_reason(error)}", "see the line")]
    finally:
        await database.close()


async def migration_finding(database: Database) -> Finding:
    known = {migration.number for migration in MIGRATIONS}
    try:
        rows = await database.fetch("SELECT version FROM schema_migrations")
    except (asyncpg.UndefinedTableError, sqlite3.OperationalError):
        rows = []
    applied = {int(row["version"]) for row in rows}
    newer = sorted(applied - known)
    if newer:
        return fail(
            AREA,
            f"the database has migration(s) {_numbers(newer)} that this version does not know",
            "run the newer version of the bot that applied them, or restore a backup",
        )
    pending = sorted(known - applied)
    if pending:
        return ok(
            AREA,
            f"migration(s) {_numbers(pending)} not applied yet: the bot applies them at its "
            "next start",
        )
    return ok(AREA, f"migrations current (1 to {max(known)})")


async def size_finding(database: Database, budget_mb: float | None) -> Finding:
    size_mb = await database_bytes(JobStore(database)) / MB
    if budget_mb is None:
        return ok(AREA, f"{size_mb:.1f} MB in use (no STORAGE_BUDGET_MB set)")
    shown = f"{size_mb:.1f} MB in use of the {budget_mb:g} MB STORAGE_BUDGET_MB"
    if size_mb > budget_mb:
        return fail(
            AREA,
            f"{shown}: over the budget",
            "raise STORAGE_BUDGET_MB if the plan allows it (Heroku essential-0: 1024), or "
            "lower IMAGE_RETENTION_DAYS so that the sweep lets go of more images",
        )
    if size_mb > budget_mb * NEARLY_FULL:
        return warn(
            AREA, f"{shown}: nearly full", "raise STORAGE_BUDGET_MB or lower IMAGE_RETENTION_DAYS"
        )
    return ok(AREA, shown)


async def connections_finding(database: Database) -> Finding:
    """Connections in use against the limit with least room: the server's, the database's or
    the role's (managed plans set one: Heroku's Essential plans allow 20)."""
    [row] = await database.fetch(
        "SELECT"
        " (SELECT COUNT(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        " AS server_used,"
        " current_setting('max_connections')::int"
        " - current_setting('superuser_reserved_connections')::int AS server_limit,"
        " (SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database())"
        " AS database_used,"
        " (SELECT datconnlimit FROM pg_database WHERE datname = current_database())"
        " AS database_limit,"
        " (SELECT COUNT(*) FROM pg_stat_activity WHERE usename = current_user) AS role_used,"
        " (SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user) AS role_limit"
    )
    # A limit of -1 is no limit.
    limits = [
        (int(row[f"{kind}_used"]), int(row[f"{kind}_limit"]), kind)
        for kind in ("server", "database", "role")
        if int(row[f"{kind}_limit"]) >= 0
    ]
    in_use, limit, kind = min(limits, key=lambda entry: entry[1] - entry[0])
    shown = (
        f"{in_use} of the {kind}'s {limit} connections in use (each bot process takes up to "
        f"{CONNECTIONS_PER_PROCESS})"
    )
    fix = "run fewer processes, or a plan with more connections"
    if in_use >= limit:
        return fail(AREA, f"{shown}: all taken", fix)
    if in_use + CONNECTIONS_PER_PROCESS > limit:
        return warn(AREA, f"{shown}: no room for another process", fix)
    return ok(AREA, shown)


async def open_existing(url: str | None) -> Database | None:
    """The database, if it exists and can be opened (a SQLite file is not made for a look)."""
    path = _sqlite_path(url)
    if path is not None and not await asyncio.to_thread(Path(path).exists):
        return None
    try:
        return await asyncio.wait_for(connect(url), CONNECT_TIMEOUT_SECONDS)
    except DATABASE_ERRORS:
        return None


def _can_make(path: Path) -> bool:
    """Whether a SQLite file can be made at `path`: its nearest existing folder is writable
    (the bot makes the folders missing below it)."""
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK)


def _sqlite_path(url: str | None) -> str | None:
    if not url:
        return DEFAULT_SQLITE_PATH
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    return None


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
