"""What generation costs and who controls it: /usage for everyone, /admin for server admins
(where and how /pose may be used here) and for the bot's owner (/admin resume)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.domain.daily_series import ServerSeries, chart_days, per_day, per_server, window_start
from bot.domain.errors import UserError
from bot.domain.quotas import DAY_SECONDS, LATER
from bot.domain.retention import MB
from bot.domain.server_rules import SAFE_NEGATIVE_PROMPT, ServerSettings
from bot.domain.text import clean, folded
from bot.storage.retention import KINDS
from bot.ui import spend_figures
from bot.ui.charts import servers_chart, summary, usage_chart
from bot.ui.i18n import locale_of, mark, named, tr
from bot.ui.message_limits import CHANNELS, SERVERS, WORDS, Listing, show_list
from bot.ui.names import IMAGE_KINDS
from bot.ui.replies import send_private, timestamp

MAX_SERVER_NEGATIVE = 300
# Characters for the servers in /admin spend, one a line, and the most servers its file lists.
SPEND_LIST_BUDGET = 1400
MAX_SPEND_SERVERS = 1000
CHANNELS_FILE = "pose-channels.txt"
WORDS_FILE = "blocked-words.txt"
SPEND_FILE = "spend-per-server.txt"

if TYPE_CHECKING:
    from bot.posebot import PoseBot


class AdminCog(commands.Cog):
    admin = app_commands.Group(
        name=named("command", "admin"),
        description=locale_str("Running the bot"),
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=named("command", "usage"),
        description=locale_str(
            "Your generations and spend over the last 24 hours, and what is left today."
        ),
    )
    async def usage(self, interaction: discord.Interaction) -> None:
        bot, settings = self.bot, self.bot.settings
        locale = locale_of(interaction)
        now = bot.clock()
        since = now - DAY_SECONDS
        server = await bot.servers.get(interaction.guild_id) if interaction.guild_id else None
        # What /pose would decide now: the same quotas, read the same way.
        quotas = await spend_figures.quotas_now(bot, server, interaction.user.id, now)
        member, mine = quotas.member, quotas.member.spend
        lines = [
            tr(
                locale,
                "In the last 24 hours you made {generations} (${dollars}); {left} of your "
                "{limit} are left.",
                **spend_figures.spend_words(locale, mine),
                left=member.left,
                limit=member.limit,
            )
        ]
        if mine.unsure:
            lines.append(
                tr(
                    locale,
                    "{count} call(s) that may have been charged without a result are counted in "
                    "the budget, not in your limit.",
                    count=mine.unsure,
                )
            )
        if (refusal := quotas.refusal) is not None:
            when = timestamp(refusal.frees_at) if refusal.frees_at is not None else LATER
            lines.append(tr(locale, refusal.reason, when=tr(locale, when), **refusal.values))
        elif quotas.left < member.left:
            lines.append(
                tr(
                    locale,
                    "{quota} leaves room for {left} more.",
                    quota=tr(locale, quotas.tightest.name),
                    left=quotas.tightest.left,
                )
            )
        # The chart: this member's requests in this server, day by day, counted as above.
        days = chart_days(now)
        rows = await spend_figures.spent_per_day(
            bot, window_start(days), requester_id=interaction.user.id, guild_id=interaction.guild_id
        )
        totals = per_day(rows, days)
        lines.append(summary(totals, interaction.locale))
        if interaction.guild_id is not None and interaction.permissions.manage_guild:
            here = await spend_figures.spent(bot, since, guild_id=interaction.guild_id)
            top = await spend_figures.spent_per(
                bot, "requester_id", since, guild_id=interaction.guild_id, limit=5
            )
            lines.append(
                tr(
                    locale,
                    "This server: {generations}, ${dollars}. Top users:",
                    **spend_figures.spend_words(locale, here),
                )
            )
            lines += [
                f"- {_requester(locale, row['requester_id'])}: "
                f"{spend_figures.generations(locale, int(row['generations']))}, "
                f"${float(row['dollars']):.2f}"
                for row in top
            ]
        if await bot.is_owner(interaction.user):
            everyone = await spend_figures.spent(bot, since)
            budget = settings.daily_budget_usd
            figures = spend_figures.spend_words(locale, everyone)
            if budget is not None:
                everyone_text = tr(
                    locale,
                    "Everyone: {generations}, ${dollars} of the ${budget} daily budget.",
                    budget=f"{budget:.2f}",
                    **figures,
                )
            else:
                everyone_text = tr(locale, "Everyone: {generations}, ${dollars}.", **figures)
            lines.append(everyone_text)
            if paused := await bot.runner.pause_reason():
                lines.append(
                    tr(locale, "⏸️ Generation is paused: {reason}.", reason=tr(locale, paused))
                )
        chart = await usage_chart(totals, interaction.locale)
        await send_private(interaction, "\n".join(lines), files=[chart])

    @admin.command(
        name=named("command", "settings"),
        description=locale_str("Show how /pose is set up in this server."),
    )
    async def settings(self, interaction: discord.Interaction) -> None:
        server = await self._server(interaction)
        if server is not None:
            text, files = _describe(server, interaction.guild, locale_of(interaction))
            await send_private(interaction, text, files=files)

    @admin.command(
        name=named("command", "enable"),
        description=locale_str("Turn the bot on or off for this server."),
    )
    @app_commands.describe(on=locale_str("Whether members may use /pose in this server"))
    @app_commands.rename(on=named("command", "on"))
    async def enable(self, interaction: discord.Interaction, on: bool) -> None:
        await self._change(interaction, lambda s: dataclasses.replace(s, enabled=on))

    @admin.command(
        name=named("command", "channel"),
        description=locale_str("Allow or stop /pose in a channel."),
    )
    @app_commands.describe(
        channel=locale_str("The channel"),
        allowed=locale_str("Allow /pose there (when none is allowed: everywhere)"),
    )
    @app_commands.rename(channel=named("command", "channel"), allowed=named("command", "allowed"))
    async def channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel, allowed: bool
    ) -> None:

        def change(server: ServerSettings) -> ServerSettings:
            others = tuple(c for c in server.channels if c != channel.id)
            return dataclasses.replace(
                server, channels=(*others, channel.id) if allowed else others
            )

        await self._change(interaction, change)

    @admin.command(
        name=named("command", "caps"),
        description=locale_str("Set this server's daily caps."),
    )
    @app_commands.describe(
        server=locale_str("Generations for the whole server per 24 hours (0: no cap)"),
        user=locale_str("Generations per member per 24 hours (0: the bot's default)"),
    )
    @app_commands.rename(server=named("command", "server"), user=named("command", "user"))
    async def caps(
        self,
        interaction: discord.Interaction,
        server: app_commands.Range[int, 0, 100_000] | None = None,
        user: app_commands.Range[int, 0, 100_000] | None = None,
    ) -> None:

        def change(settings: ServerSettings) -> ServerSettings:
            if server is not None:
                settings = dataclasses.replace(settings, daily_cap=server or None)
            if user is not None:
                settings = dataclasses.replace(settings, user_cap=user or None)
            return settings

        await self._change(interaction, change)

    @admin.command(
        name=named("command", "negative-prompt"),
        description=locale_str("Set the negative prompt every request in this server gets."),
    )
    @app_commands.describe(
        text=locale_str("Added to every request's negative prompt (leave out to clear)")
    )
    @app_commands.rename(text=named("command", "text"))
    async def negative_prompt(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, MAX_SERVER_NEGATIVE] | None = None,
    ) -> None:
        cleaned = clean(text)
        await self._change(interaction, lambda s: dataclasses.replace(s, negative_prompt=cleaned))

    @admin.command(
        name=named("command", "block"),
        description=locale_str("Refuse requests whose prompt uses this word."),
    )
    @app_commands.describe(
        word=locale_str("A word to refuse in prompts and character descriptions")
    )
    @app_commands.rename(word=named("command", "word"))
    async def block(
        self, interaction: discord.Interaction, word: app_commands.Range[str, 1, 50]
    ) -> None:
        word = folded(word)
        if not word:
            # Discord counts spaces as characters; a blank "word" would refuse every request.
            raise UserError(
                mark(
                    "Give a word to block: it cannot be blank, and this one has nothing visible "
                    "in it."
                )
            )
        await self._change(
            interaction,
            lambda s: dataclasses.replace(
                s, blocked_words=(*[w for w in s.blocked_words if folded(w) != word], word)
            ),
        )

    @admin.command(
        name=named("command", "unblock"),
        description=locale_str("Allow a blocked word again."),
    )
    @app_commands.describe(word=locale_str("A word blocked before"))
    @app_commands.rename(word=named("command", "word"))
    async def unblock(self, interaction: discord.Interaction, word: str) -> None:
        word = folded(word)
        await self._change(
            interaction,
            lambda s: dataclasses.replace(
                s, blocked_words=tuple(w for w in s.blocked_words if folded(w) != word)
            ),
        )

    @admin.command(
        name=named("command", "nsfw"),
        description=locale_str(
            "Relax the default no-nudity negative prompt, in age-restricted channels only."
        ),
    )
    @app_commands.describe(
        allowed=locale_str("Drop the no-nudity negative prompt in age-restricted channels")
    )
    @app_commands.rename(allowed=named("command", "allowed"))
    async def nsfw(self, interaction: discord.Interaction, allowed: bool) -> None:
        await self._change(interaction, lambda s: dataclasses.replace(s, nsfw_allowed=allowed))

    @admin.command(
        name=named("command", "results"),
        description=locale_str(
            "Post results publicly in the channel, or privately to each requester."
        ),
    )
    @app_commands.describe(private=locale_str("Show requests and results to the requester alone"))
    @app_commands.rename(private=named("command", "private"))
    async def results(self, interaction: discord.Interaction, private: bool) -> None:
        await self._change(interaction, lambda s: dataclasses.replace(s, private_results=private))

    async def _server(self, interaction: discord.Interaction) -> ServerSettings | None:
        """This server's settings, or None after refusing a member without Manage Server."""
        # Discord hides /admin from them by default, but a server can change that.
        if not interaction.permissions.manage_guild or interaction.guild_id is None:
            await send_private(
                interaction,
                tr(locale_of(interaction), "This needs the Manage Server permission."),
            )
            return None
        return await self.bot.servers.get(interaction.guild_id, fresh=True)

    async def _change(
        self,
        interaction: discord.Interaction,
        change: Callable[[ServerSettings], ServerSettings],
    ) -> None:
        server = await self._server(interaction)
        if server is None:
            return
        changed = change(server)
        await self.bot.servers.save(changed)
        locale = locale_of(interaction)
        text, files = _describe(changed, interaction.guild, locale)
        await send_private(interaction, tr(locale, "Saved.") + "\n" + text, files=files)

    @admin.command(
        name=named("command", "pause"),
        description=locale_str("Hold every request until /admin resume (the bot's owner only)."),
    )
    async def pause(self, interaction: discord.Interaction) -> None:
        if not await self._owner(interaction):
            return
        # Stored in English, as every pause reason, and translated wherever it is shown.
        await self.bot.runner.pause(mark("the bot's owner paused generation"))
        await send_private(
            interaction,
            tr(
                locale_of(interaction),
                "Paused: requests wait in their places until `/admin resume`.",
            ),
        )

    @admin.command(
        name=named("command", "spend"),
        description=locale_str(
            "Credits left, the budget, and spend per server (the bot's owner only)."
        ),
    )
    async def spend(self, interaction: discord.Interaction) -> None:
        if not await self._owner(interaction):
            return
        bot, settings = self.bot, self.bot.settings
        locale = locale_of(interaction)
        since = bot.clock() - DAY_SECONDS
        everyone = await spend_figures.spent(bot, since)
        credits = await spend_figures.credits_left(bot) or tr(locale, "unknown")
        budget = settings.daily_budget_usd
        figures = spend_figures.spend_words(locale, everyone)
        if budget is not None:
            last_day = tr(
                locale,
                "Last 24 hours: {generations}, ${dollars} of the ${budget} budget",
                budget=f"{budget:.2f}",
                **figures,
            )
        else:
            last_day = tr(
                locale, "Last 24 hours: {generations}, ${dollars} (no budget set)", **figures
            )
        lines = [
            tr(
                locale,
                "Segmind credits left (after the latest generation): {credits}",
                credits=credits,
            ),
            last_day,
        ]
        servers = []
        for row in await spend_figures.spent_per(bot, "guild_id", since, limit=MAX_SPEND_SERVERS):
            guild = bot.get_guild(row["guild_id"]) if row["guild_id"] else None
            name = guild.name if guild else tr(locale, "server {id}", id=row["guild_id"])
            generations = spend_figures.generations(locale, int(row["generations"]))
            servers.append(f"- {name}: {generations}, ${float(row['dollars']):.2f}")
        shown = show_list(
            servers,
            noun=SERVERS,
            locale=locale,
            budget=SPEND_LIST_BUDGET,
            separator="\n",
            filename=SPEND_FILE,
        )
        if servers:
            lines.append(shown.text)
        days = chart_days(bot.clock())
        rows = await spend_figures.spent_per_day(bot, window_start(days), per_server=True)
        totals, by_server = per_day(rows, days), per_server(rows, days)
        lines.append(summary(totals, interaction.locale))
        if paused := await bot.runner.pause_reason():
            lines.append(tr(locale, "⏸️ Paused: {reason}.", reason=tr(locale, paused)))
        names = [_series_name(bot, series, interaction.locale) for series in by_server]
        chart = await servers_chart(totals, by_server, names, interaction.locale)
        await send_private(interaction, "\n".join(lines), files=[*_files(shown), chart])

    @admin.command(
        name=named("command", "storage"),
        description=locale_str(
            "The database's size, its images by kind, and the budget (the bot's owner only)."
        ),
    )
    async def storage(self, interaction: discord.Interaction) -> None:
        if not await self._owner(interaction):
            return
        settings = self.bot.settings
        locale = locale_of(interaction)
        figures = await self.bot.storage_keeper.figures()
        budget = figures.budget_bytes
        database = _megabytes(figures.database_bytes)
        if budget is not None:
            size = tr(
                locale,
                "Database: {size} of the {budget} budget ({share})",
                size=database,
                budget=_megabytes(budget),
                share=f"{figures.database_bytes / budget:.0%}",
            )
        else:
            size = tr(
                locale, "Database: {size} (no budget: STORAGE_BUDGET_MB is not set)", size=database
            )
        lines = [
            size,
            tr(
                locale,
                "Images: {count}, each stored once, {size} in all. By kind (an image used two "
                "ways counts in both):",
                count=figures.images,
                size=_megabytes(figures.image_bytes),
            ),
            *(
                f"- {tr(locale, IMAGE_KINDS[kind])}: {_megabytes(figures.by_kind[kind])}"
                for kind in KINDS
            ),
            tr(
                locale,
                "Kept: a delivered request's images {images} days after its last use, request "
                "history {history} days, saved characters and story panels until deleted.",
                images=f"{settings.image_retention_days:g}",
                history=f"{settings.history_retention_days:g}",
            ),
        ]
        await send_private(interaction, "\n".join(lines))

    async def _owner(self, interaction: discord.Interaction) -> bool:
        # Checked by id, not by permission: server admins must not control what the owner pays.
        if await self.bot.is_owner(interaction.user):
            return True
        await send_private(
            interaction, tr(locale_of(interaction), "Only the bot's owner can do this.")
        )
        return False

    @admin.command(
        name=named("command", "resume"),
        description=locale_str("Resume generation after a pause (the bot's owner only)."),
    )
    async def resume(self, interaction: discord.Interaction) -> None:
        if not await self._owner(interaction):
            return
        runner = self.bot.runner
        locale = locale_of(interaction)
        if await runner.pause_reason() is None:
            await send_private(interaction, tr(locale, "Generation is not paused."))
            return
        waiting = await runner.resume()
        await send_private(
            interaction,
            tr(locale, "Resumed: {count} waiting request(s) will run now.", count=waiting),
        )


def _describe(
    server: ServerSettings, guild: discord.Guild | None, locale: discord.Locale
) -> tuple[str, list[discord.File]]:
    """The server's settings as one message, and the whole of each list that had to be cut."""
    channels = show_list(
        [f"<#{c}>" for c in server.channels],
        noun=CHANNELS,
        locale=locale,
        filename=CHANNELS_FILE,
        lines=[_channel_name(guild, c, locale) for c in server.channels],
    )
    words = show_list(server.blocked_words, noun=WORDS, locale=locale, filename=WORDS_FILE)
    none = tr(locale, "none")
    lines = [
        tr(locale, "- Bot: on in this server")
        if server.enabled
        else tr(locale, "- Bot: off in this server"),
        tr(
            locale,
            "- /pose works in: {places}",
            places=channels.text or tr(locale, "every channel"),
        ),
        tr(
            locale,
            "- Server cap: {cap} generations per 24 hours",
            cap=server.daily_cap or none,
        ),
        tr(
            locale,
            "- Per-member cap: {cap}",
            cap=server.user_cap or tr(locale, "the bot default"),
        ),
        tr(locale, "- Negative prompt added: {text}", text=server.negative_prompt or none),
        tr(
            locale,
            "- Nudity ({words}): relaxed in age-restricted channels",
            words=SAFE_NEGATIVE_PROMPT,
        )
        if server.nsfw_allowed
        else tr(locale, "- Nudity ({words}): always excluded", words=SAFE_NEGATIVE_PROMPT),
        tr(locale, "- Blocked words: {words}", words=words.text or none),
        tr(locale, "- Results: private to each requester")
        if server.private_results
        else tr(locale, "- Results: public"),
    ]
    return "\n".join(lines), _files(channels, words)


def _files(*listings: Listing) -> list[discord.File]:
    """The files of the lists that had to be cut, to attach to the reply that shows them."""
    return [listing.file for listing in listings if listing.file is not None]


def _channel_name(guild: discord.Guild | None, channel_id: int, locale: discord.Locale) -> str:
    channel = guild.get_channel(channel_id) if guild else None
    if channel is not None:
        return f"#{channel.name} ({channel_id})"
    return tr(locale, "unknown channel ({id})", id=channel_id)


def _series_name(bot: PoseBot, series: ServerSeries, locale: discord.Locale) -> str:
    """How /admin spend's chart names a server, or the servers added up as one."""
    if series.others:
        return tr(locale, "{count} other servers", count=len(series.guild_ids))
    [guild_id] = series.guild_ids
    if guild_id is None:
        return tr(locale, "outside servers")
    guild = bot.get_guild(guild_id)
    return guild.name if guild else tr(locale, "server {id}", id=guild_id)


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def _requester(locale: discord.Locale, requester_id: int | None) -> str:
    """A requester's mention; the ledger keeps no id of someone who asked to be forgotten."""
    if requester_id is None:
        return tr(locale, "someone who asked to be forgotten")
    return f"<@{requester_id}>"


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(AdminCog(bot))
