"""The spend figures /usage and /admin spend show, read for the commands from the job store:
the same quotas /pose decides with, what was spent, by whom, where and on which day."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

import discord

from bot.domain.quotas import DailyQuotas, Spend, daily_quotas
from bot.domain.server_rules import ServerSettings
from bot.engine.credits import BALANCE_FACT
from bot.storage.database import Row
from bot.ui.i18n import tr

if TYPE_CHECKING:
    from bot.posebot import PoseBot


async def quotas_now(
    bot: PoseBot, server: ServerSettings | None, user_id: int, now: float
) -> DailyQuotas:
    """What /pose would decide now for `user_id` in `server`: the same quotas, read the same
    way."""
    return await daily_quotas(bot.store.ledger, bot.settings, server, user_id, now)


async def spent(bot: PoseBot, since: float, *, guild_id: int | None = None) -> Spend:
    """What was spent since `since`: by everyone, or in one server."""
    return await bot.store.ledger.spend_since(since, guild_id=guild_id)


async def spent_per(
    bot: PoseBot,
    column: Literal["requester_id", "guild_id"],
    since: float,
    *,
    limit: int,
    guild_id: int | None = None,
) -> list[Row]:
    """What was spent since `since` per member or per server, the most first."""
    return await bot.store.ledger.spend_per(column, since, guild_id=guild_id, limit=limit)


async def spent_per_day(
    bot: PoseBot,
    since: float,
    *,
    requester_id: int | None = None,
    guild_id: int | None = None,
    per_server: bool = False,
) -> list[Row]:
    """What was spent each day since `since`, for the charts."""
    return await bot.store.ledger.spend_per_day(
        since, requester_id=requester_id, guild_id=guild_id, per_server=per_server
    )


async def credits_left(bot: PoseBot) -> str | None:
    """The API's credits as its latest answer counted them, if any answer said."""
    return (await bot.store.last_usage()).get("x-remaining-credits")


async def balance_read(bot: PoseBot) -> tuple[float, float] | None:
    """The balance Segmind's free endpoint last gave (the hourly check), and when."""
    fact = await bot.store.fact(BALANCE_FACT)
    if fact is None:
        return None
    value = json.loads(fact)
    return float(value["credits"]), float(value["at"])


def spend_words(locale: discord.Locale, spend: Spend) -> dict[str, str]:
    """The {generations} and {dollars} of a spend line, in the reader's language."""
    return {
        "generations": generations(locale, spend.generations),
        "dollars": f"{spend.dollars:.2f}",
    }


def generations(locale: discord.Locale, count: int) -> str:
    if count == 1:
        return tr(locale, "1 generation")
    return tr(locale, "{count} generations", count=count)
