"""/history: a user's recent results, newest first, ten to a page, in one private message.

Each result shows its prompt, seed, a thumbnail (while the bot keeps its image) and a link to
its message; under them, the results' own 🎲 Reroll and ✏️ New pose buttons
(bot/ui/result_buttons.py), numbered as the results are.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.images import reworking_cost, thumbnail
from bot.storage.job_store import Job
from bot.ui.files import file_name, image_file
from bot.ui.i18n import tr
from bot.ui.job_messages import result_link
from bot.ui.pages import PagedPanel
from bot.ui.replies import timestamp
from bot.ui.result_buttons import HISTORY_ACTIONS, ResultButton

if TYPE_CHECKING:
    from bot.posebot import PoseBot

# Discord allows 10 embeds and 10 files a message, and 25 buttons: ten results with two
# buttons each, and a row for turning pages.
PAGE_SIZE = 10
# Ten embeds share Discord's 6000 characters: each prompt is shown up to this many.
PROMPT_SHOWN = 300


class HistoryPages(PagedPanel):
    def __init__(
        self,
        bot: PoseBot,
        origin: discord.Interaction,
        total: int,
        *,
        character_id: int | None = None,
        character_name: str | None = None,
    ) -> None:
        super().__init__(origin, math.ceil(total / PAGE_SIZE))
        self.bot = bot
        self.total = total
        self.character_id = character_id
        self.character_name = character_name

    async def render(self) -> dict[str, Any]:
        """The current page as message fields: text, an embed and a thumbnail per result, and
        the buttons."""
        locale = self.origin.locale
        jobs = await self.bot.history.page(
            self.origin.user.id,
            character_id=self.character_id,
            limit=PAGE_SIZE,
            offset=self.page * PAGE_SIZE,
        )
        first = self.page * PAGE_SIZE + 1
        embeds, files = [], []
        for number, job in enumerate(jobs, start=first):
            embed = self._embed(number, job)
            image = await self.bot.history.result_image(job.id)
            if image is not None:  # kept a while after its last use only
                async with self.bot.memory.reserve_checked(reworking_cost(image.image)):
                    small = await asyncio.to_thread(thumbnail, image.image)
                filename = file_name(f"result-{job.id}", small)
                embed.set_thumbnail(url=f"attachment://{filename}")
                files.append(image_file(small, filename))
            embeds.append(embed)
        self._set_buttons(first, jobs)
        if self.character_name is None:
            heading = tr(
                locale,
                "**Your recent results** ({count}; page {page} of {pages}).",
                count=self.total,
                page=self.page + 1,
                pages=self.pages,
            )
        else:
            heading = tr(
                locale,
                "**Your recent results made from {name}** ({count}; page {page} of {pages}).",
                name=self.character_name,
                count=self.total,
                page=self.page + 1,
                pages=self.pages,
            )
        hint = tr(locale, "🎲 *n* rerolls result *n*; ✏️ *n* gives it a new pose.")
        return {"content": f"{heading}\n{hint}", "embeds": embeds, "files": files}

    def _embed(self, number: int, job: Job) -> discord.Embed:
        locale = self.origin.locale
        prompt = job.options.prompt
        if len(prompt) > PROMPT_SHOWN:
            prompt = prompt[: PROMPT_SHOWN - 1] + "…"
        embed = discord.Embed(
            title=f"{number}.", description=prompt, colour=discord.Colour.blurple()
        )
        embed.add_field(name=tr(locale, "Seed"), value=f"`{job.options.seed}`")
        if job.finished_at is not None:
            embed.add_field(name=tr(locale, "Made"), value=timestamp(job.finished_at))
        if job.private:
            # Shown to its requester alone (or sent by direct message): no link leads there.
            where = tr(locale, "shown to you alone")
        else:
            where = tr(locale, "[open the message]({link})", link=result_link(job))
        embed.add_field(name=tr(locale, "Result"), value=where)
        return embed

    def _set_buttons(self, first: int, jobs: list[Job]) -> None:
        self.clear_items()
        for number, job in enumerate(jobs, start=first):
            for action in HISTORY_ACTIONS:
                self.add_item(ResultButton(action, job.id, from_history=True, label=str(number)))
        if self.pages > 1:
            self.add_item(self.previous_page)
            self.add_item(self.next_page)
