"""What /status shows: the bot's health as a server's admins see it (this server) or as its
owner sees it (everything), read from the database so that any process answers alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.check.channel_access import fetch_server, lacking
from bot.domain.quotas import DAY_SECONDS, rules_for
from bot.domain.server_rules import ServerSettings
from bot.storage.job_stats import recent_jobs
from bot.ui import spend_figures
from bot.ui.i18n import mark, tr
from bot.ui.message_limits import CHANNELS, Listing, show_list
from bot.ui.replies import timestamp
from bot.version import bot_version

if TYPE_CHECKING:
    from bot.posebot import PoseBot

HOUR_SECONDS = 3600.0
# Characters for each list (channels lacking permissions, refusals, processes): the rest of
# the report and three lists fit in one message.
LIST_BUDGET = 350
MISSING_FILE = "missing-permissions.txt"
REFUSED_FILE = "refused-deliveries.txt"
PROCESSES = mark("processes")


@dataclass(frozen=True)
class Viewer:
    locale: discord.Locale
    guild_id: int | None  # the server whose view is shown; None: none (the owner, in DMs)
    owner: bool  # the bot's owner: everything


async def status_report(bot: PoseBot, viewer: Viewer) -> tuple[str, list[discord.File]]:
    """The report's text, and the files of lists too long for it."""
    locale = viewer.locale
    now = bot.clock()
    server = await bot.servers.get(viewer.guild_id) if viewer.guild_id is not None else None
    lines = [
        tr(
            locale,
            "**PoseBot {version}**, this process up since {when}.",
            version=bot_version(),
            when=timestamp(bot.started_at),
        )
    ]
    listings: list[Listing] = []
    lines += await _processes(bot, viewer, now, listings)
    lines += await _queue(bot, locale, now)
    lines += await _last_hour(bot, viewer, now)
    lines += await _spend(bot, viewer, server, now)
    if viewer.guild_id is not None:
        lines += await _channels(bot, locale, viewer.guild_id, server, listings)
    lines += await _refusals(bot, viewer, listings)
    if viewer.owner:
        credits = await spend_figures.credits_left(bot) or tr(locale, "unknown")
        lines.append(
            tr(
                locale,
                "Segmind credits left (after the latest generation): {credits}",
                credits=credits,
            )
        )
        if (read := await spend_figures.balance_read(bot)) is not None:
            lines.append(
                tr(
                    locale,
                    "Segmind balance at the latest check ({when}): ${credits}",
                    when=timestamp(read[1]),
                    credits=f"{read[0]:.2f}",
                )
            )
    files = [listing.file for listing in listings if listing.file is not None]
    return "\n".join(lines), files


async def _processes(
    bot: PoseBot, viewer: Viewer, now: float, listings: list[Listing]
) -> list[str]:
    locale = viewer.locale
    alive = await bot.runner.heartbeats.alive(now)
    lease = bot.settings.job_lease_seconds
    if not viewer.owner:
        # A server's admins learn how many processes run, not the owner's machines.
        roles = sorted({process.role for process in alive})
        counts = ", ".join(f"{sum(p.role == role for p in alive)} {role}" for role in roles)
        return [tr(locale, "Processes alive: {count} ({roles}).", count=len(alive), roles=counts)]
    items = [
        "- "
        + tr(
            locale,
            "{role} `{name}`, last heartbeat {when}",
            role=process.role,
            name=process.name,
            when=timestamp(process.alive_until - lease),
        )
        for process in alive
    ]
    shown = show_list(items, noun=PROCESSES, locale=locale, budget=LIST_BUDGET, separator="\n")
    listings.append(shown)
    return [tr(locale, "Processes alive: {count}.", count=len(alive)), shown.text]


async def _queue(bot: PoseBot, locale: discord.Locale, now: float) -> list[str]:
    runner = bot.runner
    snapshot = await runner.queue.snapshot(now, with_jobs=False)
    waiting = len(snapshot.order)
    lines = [
        tr(
            locale,
            "Queue: {waiting} waiting, {running} generating.",
            waiting=waiting,
            running=snapshot.in_flight,
        )
    ]
    if snapshot.paused:
        lines.append(
            tr(locale, "⏸️ Generation is paused: {reason}.", reason=tr(locale, snapshot.paused))
        )
    else:
        # The queue cards' own estimate, for a request made now.
        starts = runner.cards.estimate_start(waiting + 1, snapshot)
        lines.append(
            tr(locale, "Not paused; a new request should start {when}.", when=timestamp(starts))
        )
    return lines


async def _last_hour(bot: PoseBot, viewer: Viewer, now: float) -> list[str]:
    locale = viewer.locale
    guild_id = None if viewer.owner else viewer.guild_id
    recent = await recent_jobs(bot.store.database, now - HOUR_SECONDS, guild_id)
    median = (
        tr(locale, "{seconds} s", seconds=f"{recent.median_seconds:.0f}")
        if recent.median_seconds is not None
        else "–"
    )
    failures = (
        ", ".join(f"{count} {kind}" for kind, count in recent.failures.items())
        if recent.failures
        else tr(locale, "none")
    )
    text = tr(
        locale,
        "Last hour: {generations}, median time {median}; failures: {failures}.",
        generations=spend_figures.generations(locale, recent.generations),
        median=median,
        failures=failures,
    )
    return [text]


async def _spend(
    bot: PoseBot, viewer: Viewer, server: ServerSettings | None, now: float
) -> list[str]:
    locale = viewer.locale
    since = now - DAY_SECONDS
    rules = rules_for(bot.settings, server)
    lines = []
    if viewer.guild_id is not None:
        here = await spend_figures.spent(bot, since, guild_id=viewer.guild_id)
        cap = (
            tr(locale, "its cap is {count} a day", count=rules.server_cap)
            if rules.server_cap is not None
            else tr(locale, "no cap")
        )
        lines.append(
            tr(
                locale,
                "This server, last 24 hours: {generations}, ${dollars} ({cap}; each member "
                "{limit} a day).",
                **spend_figures.spend_words(locale, here),
                cap=cap,
                limit=rules.member_limit,
            )
        )
    if viewer.owner:
        everyone = await spend_figures.spent(bot, since)
        if rules.budget is not None:
            lines.append(
                tr(
                    locale,
                    "Everyone: {generations}, ${dollars} of the ${budget} daily budget.",
                    budget=f"{rules.budget:.2f}",
                    **spend_figures.spend_words(locale, everyone),
                )
            )
        else:
            lines.append(
                tr(
                    locale,
                    "Everyone: {generations}, ${dollars}.",
                    **spend_figures.spend_words(locale, everyone),
                )
            )
    return lines


async def _channels(
    bot: PoseBot,
    locale: discord.Locale,
    guild_id: int,
    server: ServerSettings | None,
    listings: list[Listing],
) -> list[str]:
    """The setup check's own reading of this server's /pose channels."""
    if server is not None and not server.enabled:
        return []
    try:
        guild = await fetch_server(bot, guild_id)
    except (discord.HTTPException, aiohttp.ClientError):
        return [tr(locale, "The bot cannot read this server's channels to check its permissions.")]
    gaps = lacking(guild, server.channels if server is not None else ())
    if not gaps:
        return [
            tr(locale, "The bot has every permission it needs in this server's /pose channels.")
        ]
    items = [
        f"<#{channel.id}>: {', '.join(tr(locale, name) for name in missing)}"
        for channel, missing in gaps
    ]
    shown = show_list(
        items,
        noun=CHANNELS,
        locale=locale,
        budget=LIST_BUDGET,
        separator="\n",
        filename=MISSING_FILE,
        lines=[f"#{channel.name}: {', '.join(missing)}" for channel, missing in gaps],
    )
    listings.append(shown)
    return [tr(locale, "⚠️ Permissions the bot lacks, by channel:"), shown.text]


async def _refusals(bot: PoseBot, viewer: Viewer, listings: list[Listing]) -> list[str]:
    locale = viewer.locale
    refused = await bot.channel_problems.refused(None if viewer.owner else viewer.guild_id)
    if not refused:
        return []
    items = [
        tr(
            locale,
            "<#{channel}> {when}: lacked {permissions}",
            channel=refusal.channel_id,
            when=timestamp(refusal.at),
            permissions=", ".join(tr(locale, name) for name in refusal.missing)
            or tr(locale, "a permission it needs"),
        )
        for refusal in refused
    ]
    shown = show_list(
        items,
        noun=CHANNELS,
        locale=locale,
        budget=LIST_BUDGET,
        separator="\n",
        filename=REFUSED_FILE,
        # A file shows no mentions: the server's and the channel's ids, and the time in UTC.
        lines=[
            f"{refusal.guild_id}/{refusal.channel_id} {_utc(refusal.at)}: "
            + ", ".join(tr(locale, name) for name in refusal.missing)
            for refusal in refused
        ],
    )
    listings.append(shown)
    return [tr(locale, "⚠️ Results Discord refused to take, by channel:"), shown.text]


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
