"""/help: a short private guide in the user's language, with the limits that really apply to
them here (the bot's settings and this server's caps), and a worked example."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.domain.quotas import DAY_SECONDS
from bot.ui.i18n import named, tr
from bot.ui.replies import send_private
from bot.ui.result_buttons import RESULT_ACTIONS

if TYPE_CHECKING:
    from bot.posebot import PoseBot
    from bot.settings import Settings


class HelpCog(commands.Cog):
    def __init__(self, bot: PoseBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=named("command", "help"),
        description=locale_str(
            "How to use the bot: the first /pose, saved characters, the buttons and your limits."
        ),
    )
    async def guide(self, interaction: discord.Interaction) -> None:
        """How to use the bot: the first /pose, saved characters, the buttons and your limits."""
        server = None
        if interaction.guild_id is not None:
            server = await self.bot.servers.get(interaction.guild_id)
        guide = Guide(
            locale=interaction.locale,
            settings=self.bot.settings,
            per_member=server.user_cap if server else None,
            server_cap=server.daily_cap if server else None,
            in_server=server is not None,
            now=self.bot.clock(),
        )
        await send_private(interaction, None, embed=guide.embed())


class Guide:
    """The guide's sections, each a field of one embed (well within Discord's limits)."""

    def __init__(
        self,
        *,
        locale: discord.Locale,
        settings: Settings,
        per_member: int | None,
        server_cap: int | None,
        in_server: bool,
        now: float,
    ) -> None:
        self.locale = locale
        self.settings = settings
        self.daily = per_member or settings.user_daily_limit
        self.per_member = per_member
        self.server_cap = server_cap
        self.in_server = in_server
        self.now = now

    def embed(self) -> discord.Embed:
        embed = discord.Embed(
            title=tr(self.locale, "How to use the pose bot"),
            description=tr(
                self.locale,
                "Give the bot an image of a character and describe a pose: it posts the same "
                "character in that pose. Only you can see this guide.",
            ),
            colour=discord.Colour.blurple(),
        )
        for name, value in self.sections():
            embed.add_field(name=name, value=value, inline=False)
        return embed

    def sections(self) -> list[tuple[str, str]]:
        return [
            (tr(self.locale, "1. Your first /pose"), self.first_pose()),
            (tr(self.locale, "2. Saving a character"), self.saving()),
            (tr(self.locale, "3. The buttons under a result"), self.buttons()),
            (tr(self.locale, "4. Your limits"), self.limits()),
            (tr(self.locale, "5. A worked example"), self.example()),
            (tr(self.locale, "6. Stories and character sheets"), self.stories()),
        ]

    def first_pose(self) -> str:
        return tr(
            self.locale,
            "Type `/pose`, attach an image of your character to `character` and describe the "
            "pose in `prompt`, for example:\n"
            "`/pose character:knight.png prompt:the knight, kneeling, sword planted in the "
            "ground`\n"
            "A card shows your place in the queue; it becomes the picture when it is ready "
            "(about 40 seconds). `size`, `steps`, `guidance` and `seed` are optional; the seed "
            "is always shown, so a result can be made again.",
        )

    def saving(self) -> str:
        return tr(
            self.locale,
            "`/character save name:Aria image:aria.png description:red cloak, silver hair` "
            "keeps Aria; then `/pose saved:Aria prompt:sitting on a throne` poses her, her "
            "description put before your words. You may keep {count} characters; "
            "`/character list` shows them.",
            count=self.settings.user_max_characters,
        )

    def buttons(self) -> str:
        what = {
            "reroll": tr(self.locale, "the same request, a new seed"),
            "newpose": tr(self.locale, "the same character and seed, new words"),
            "save": tr(self.locale, "keeps the result as a character of yours"),
            "story": tr(self.locale, "adds the result to your current story as its next panel"),
            "delete": tr(self.locale, "removes the result (its requester, or Manage Messages)"),
        }
        lines = [
            f"{emoji} **{tr(self.locale, label)}**: {what[action]}"
            for action, (label, emoji, _) in RESULT_ACTIONS.items()
        ]
        lines.append(
            tr(
                self.locale,
                "Reroll and New pose are new requests of whoever presses: they count below.",
            )
        )
        return "\n".join(lines)

    def limits(self) -> str:
        settings = self.settings
        if self.per_member is not None:
            daily = tr(
                self.locale,
                "**Daily limit**: {count} generations per 24 hours (this server's cap per "
                "member); the oldest frees up 24 hours after it was made.",
                count=self.daily,
            )
        else:
            daily = tr(
                self.locale,
                "**Daily limit**: {count} generations per 24 hours; the oldest frees up 24 "
                "hours after it was made.",
                count=self.daily,
            )
        if not self.in_server:
            server = tr(self.locale, "**Server cap**: each server may set one for all its members.")
        elif self.server_cap is not None:
            server = tr(
                self.locale,
                "**Server cap**: {count} generations per 24 hours for everyone here together.",
                count=self.server_cap,
            )
        else:
            server = tr(self.locale, "**Server cap**: none in this server.")
        lines = [
            tr(
                self.locale,
                "**Cooldown**: one accepted request every {duration}.",
                duration=self.duration(settings.user_cooldown_seconds),
            ),
            daily,
            tr(
                self.locale,
                "**Queue**: at most {count} of your requests waiting, one generating at a time.",
                count=settings.user_max_queued,
            ),
            server,
        ]
        if settings.daily_budget_usd is not None:
            lines.append(
                tr(
                    self.locale,
                    "**Budget**: the bot's owner pays for every generation and sets a daily "
                    "budget; when it is spent, requests are refused until it frees up.",
                )
            )
        lines.append(
            tr(
                self.locale,
                "A request that fails or that you cancel costs nothing and gives the cooldown "
                "back. `/usage` shows what you have left, with a chart of your last 30 days.",
            )
        )
        return "\n".join(f"- {line}" if line.startswith("**") else line for line in lines)

    def example(self) -> str:
        cooldown = self.settings.user_cooldown_seconds
        return tr(
            self.locale,
            "You pose at {now}; the card shows your place in the queue. Your next request "
            "is accepted from {next} ({duration} later), and up to {queued} of yours can wait "
            "while one generates. After {count} generations in 24 hours the next one is "
            "refused, and the answer says when the oldest frees up: for one made now, "
            "{tomorrow}.",
            now=f"<t:{int(self.now)}:t>",
            queued=self.settings.user_max_queued,
            next=f"<t:{int(self.now + cooldown + 0.999)}:t>",
            duration=self.duration(cooldown),
            count=self.daily,
            tomorrow=f"<t:{int(self.now + DAY_SECONDS)}:f>",
        )

    def stories(self) -> str:
        return tr(
            self.locale,
            "`/story new name:The quest` starts a story; 📖 under a result (or `/story add`) "
            "adds it as the next panel, and `/story show` lets you caption, move and remake "
            "panels. `/story export` gives the story as PNG pages, one PDF or a ZIP of its "
            "panels. `/sheet character:Aria kind:turnaround` makes a model sheet of a saved "
            "character: its generations count toward your limits like any other.",
        )

    def duration(self, seconds: float) -> str:
        if seconds < 120:
            return tr(self.locale, "{count:g} seconds", count=seconds)
        if seconds < 2 * 3600:
            return tr(self.locale, "{count:g} minutes", count=round(seconds / 60, 1))
        return tr(self.locale, "{count:g} hours", count=round(seconds / 3600, 1))


async def setup(bot: PoseBot) -> None:
    await bot.add_cog(HelpCog(bot))
