"""What the jobs table says of a recent stretch of time, for /status: generations made,
failures by kind, and how long generations took."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from bot.storage.database import Database
from bot.storage.job_store import FAILED


@dataclass(frozen=True)
class RecentJobs:
    generations: int
    failures: dict[str, int]  # by kind (the error's type, as the job's reason starts)
    median_seconds: float | None  # of the generations' time at the API; None: none made


async def recent_jobs(database: Database, since: float, guild_id: int | None) -> RecentJobs:
    """The jobs of one server (or every server, None) since `since`."""
    # One of two fixed conditions: the values themselves are parameters.
    where, args = ("", [since]) if guild_id is None else (" AND guild_id = $2", [since, guild_id])
    generated = await database.fetch(
        "SELECT generated_at - started_at AS took FROM jobs"  # noqa: S608
        f" WHERE generated_at >= $1 AND started_at IS NOT NULL{where}",
        *args,
    )
    failed = await database.fetch(
        f"SELECT reason FROM jobs WHERE state = '{FAILED}' AND finished_at >= $1{where}",  # noqa: S608
        *args,
    )
    took = [float(row["took"]) for row in generated]
    kinds = Counter(_kind(row["reason"]) for row in failed)
    return RecentJobs(
        generations=len(took),
        failures=dict(kinds.most_common()),
        median_seconds=statistics.median(took) if took else None,
    )


def _kind(reason: str | None) -> str:
    """A failure's kind: its reason reads "Kind: detail" (bot/engine/job.py)."""
    return (reason or "").split(":", 1)[0].strip() or "unknown"
