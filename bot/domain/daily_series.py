"""Spend per day over the last few weeks, for the charts of /usage and /admin spend.

Pure: the job store counts (`JobStore.spend_per_day`), this fills the days nothing was spent and
picks the servers a chart names. A day is a UTC day, numbered from 1970-01-01.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain.quotas import DAY_SECONDS

CHART_DAYS = 30
# Servers a chart names; the rest are added up as one.
TOP_SERVERS = 5


@dataclass(frozen=True)
class DayTotal:
    day: int  # days since 1970-01-01 (UTC)
    generations: int
    dollars: float

    @property
    def date(self) -> datetime.date:
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=self.day)


@dataclass(frozen=True)
class ServerSeries:
    """One server's dollars per day, or several servers' added up (`others`)."""

    guild_ids: tuple[int | None, ...]  # None: requests made outside any server
    dollars: tuple[float, ...]  # one a day, oldest first
    generations: int  # over the whole window

    @property
    def others(self) -> bool:
        return len(self.guild_ids) != 1

    @property
    def total(self) -> float:
        return sum(self.dollars)


def chart_days(now: float, count: int = CHART_DAYS) -> range:
    """The `count` UTC days ending with today's."""
    today = int(now // DAY_SECONDS)
    return range(today - count + 1, today + 1)


def window_start(days: range) -> float:
    """The moment the first of `days` begins: what the store counts from."""
    return float(days.start * DAY_SECONDS)


def per_day(rows: Iterable[Mapping[str, Any]], days: range) -> list[DayTotal]:
    """One total a day for every day of `days`, zero where the store found nothing; rows of
    the same day (one a server) are added up."""
    generations = dict.fromkeys(days, 0)
    dollars = dict.fromkeys(days, 0.0)
    for row in rows:
        day = int(row["day"])
        if day in generations:
            generations[day] += int(row["generations"])
            dollars[day] += float(row["dollars"])
    return [DayTotal(day, generations[day], dollars[day]) for day in days]


def per_server(
    rows: Iterable[Mapping[str, Any]], days: range, top: int = TOP_SERVERS
) -> list[ServerSeries]:
    """Dollars per day for the `top` servers that spent most over `days` (most first), then
    the rest added up as one series; the servers' totals add up to the whole."""
    dollars: dict[int | None, list[float]] = {}
    generations: dict[int | None, int] = {}
    for row in rows:
        if int(row["day"]) not in days:
            continue
        guild_id = row["guild_id"]
        series = dollars.setdefault(guild_id, [0.0] * len(days))
        series[int(row["day"]) - days.start] += float(row["dollars"])
        generations[guild_id] = generations.get(guild_id, 0) + int(row["generations"])
    ranked = sorted(dollars, key=lambda g: (-sum(dollars[g]), g is None, g or 0))
    shown = [ServerSeries((g,), tuple(dollars[g]), generations[g]) for g in ranked[:top]]
    rest = ranked[top:]
    if rest:
        summed = tuple(sum(dollars[g][i] for g in rest) for i in range(len(days)))
        shown.append(ServerSeries(tuple(rest), summed, sum(generations[g] for g in rest)))
    return shown
