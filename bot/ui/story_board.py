"""/story show: a story's panels in order, four to a page, in one private message; under each
panel's thumbnail and caption, buttons to move it earlier or later, caption it (a form),
remove it, and 🎲 redo it (a Reroll that takes the panel's place once delivered)."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.images import reworking_cost, thumbnail
from bot.domain.pose_request import InvalidRequest
from bot.domain.stories import MAX_CAPTION_LENGTH, Panel, Story, StoryError, may_arrange
from bot.storage.job_store import CHARACTER
from bot.ui import views
from bot.ui.files import file_name, image_file
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.intake import Request
from bot.ui.pages import PagedPanel
from bot.ui.replies import NO_MENTIONS
from bot.ui.result_reuse import IMAGES_GONE, images_of, rerolled, retention_days

if TYPE_CHECKING:
    from bot.posebot import PoseBot

# Four rows of a panel's five buttons, and a row for turning pages: Discord's five rows.
PAGE_SIZE = 4
ACTIONS = {
    "earlier": "⬅️",
    "later": "➡️",
    "caption": "✏️",
    "redo": "🎲",
    "remove": "🗑️",
}
NOT_YOURS = mark(
    "Only the owner of “{name}”, whoever added the panel, or someone with the Manage Server "
    "permission can change it."
)


class StoryBoard(PagedPanel):
    def __init__(self, bot: PoseBot, origin: discord.Interaction, story: Story) -> None:
        super().__init__(origin, math.ceil(story.panels / PAGE_SIZE))
        self.bot = bot
        self.story = story
        self.panels: list[Panel] = []

    async def load(self) -> None:
        """Read the story and its panels again (another member may have changed them, a
        /story add may have been delivered)."""
        await self.bot.stories.settle(self.bot.clock(), self.story.id)
        story = await self.bot.stories.get(self.story.id)
        if story is None:
            raise StoryError(mark("This story was deleted."))
        self.story = story
        self.panels = await self.bot.stories.panels(story.id)
        self.pages = max(1, math.ceil(len(self.panels) / PAGE_SIZE))
        self.page = min(self.page, self.pages - 1)
        self.update_buttons()

    async def render(self) -> dict[str, Any]:
        await self.load()
        locale = locale_of(self.origin)
        first = self.page * PAGE_SIZE
        shown = self.panels[first : first + PAGE_SIZE]
        embeds, files = [], []
        for panel in shown:
            number = panel.position + 1
            embed = discord.Embed(
                title=f"{number}.",
                description=panel.caption or tr(locale, "*No caption.*"),
                colour=discord.Colour.blurple(),
            )
            image = await self.bot.stories.image(panel.image_sha256)
            if image is not None:
                async with self.bot.memory.reserve_checked(reworking_cost(image)):
                    small = await asyncio.to_thread(thumbnail, image)
                filename = file_name(f"panel-{number}", small)
                embed.set_thumbnail(url=f"attachment://{filename}")
                files.append(image_file(small, filename))
            embeds.append(embed)
        self._set_buttons(shown)
        if not self.panels:
            heading = tr(
                locale,
                "**{name}** has no panels yet: press 📖 under a result to add it.",
                name=self.story.name,
            )
        else:
            heading = tr(
                locale,
                "**{name}**: {count} panels (page {page} of {pages}). ⬅️ *n* and ➡️ *n* move "
                "panel *n*, ✏️ *n* captions it, 🎲 *n* makes it again, 🗑️ *n* removes it.",
                name=self.story.name,
                count=len(self.panels),
                page=self.page + 1,
                pages=self.pages,
            )
        return {"content": heading, "embeds": embeds, "files": files}

    def _set_buttons(self, shown: list[Panel]) -> None:
        self.clear_items()
        for row, panel in enumerate(shown):
            for action, emoji in ACTIONS.items():
                button: discord.ui.Button[StoryBoard] = discord.ui.Button(
                    label=str(panel.position + 1),
                    emoji=emoji,
                    style=discord.ButtonStyle.danger
                    if action == "remove"
                    else discord.ButtonStyle.secondary,
                    custom_id=f"story:{action}:{panel.id}",
                    row=row,
                    disabled=(action == "earlier" and panel.position == 0)
                    or (action == "later" and panel.position == len(self.panels) - 1),
                )
                button.callback = self._callback(action, panel)  # type: ignore[method-assign]
                self.add_item(button)
        if self.pages > 1:
            self.add_item(self.previous_page)
            self.add_item(self.next_page)

    def _callback(self, action: str, panel: Panel) -> Any:
        async def pressed(interaction: discord.Interaction) -> None:
            member = interaction.permissions.manage_guild
            if not may_arrange(self.story, panel, interaction.user.id, member):
                raise StoryError(NOT_YOURS, name=self.story.name)
            if action == "caption":
                await interaction.response.send_modal(CaptionForm(self, panel))
                return
            if action == "redo":
                await self._redo(interaction, panel)
                return
            await interaction.response.defer()
            if action == "remove":
                await self.bot.stories.remove(panel)
            else:
                await self.bot.stories.move(panel, -1 if action == "earlier" else 1)
            await self.redraw(interaction)

        return pressed

    async def _redo(self, interaction: discord.Interaction, panel: Panel) -> None:
        """A Reroll of the panel's result, through the intake like any press (checks,
        cooldown, quotas); delivered, it takes the panel's place, caption kept."""
        bot, story = self.bot, self.story

        async def request() -> Request:
            try:
                job = await bot.store.job(panel.job_id) if panel.job_id is not None else None
                if job is None or CHARACTER not in await bot.store.image_roles(job.id):
                    raise InvalidRequest(IMAGES_GONE, days=retention_days(bot))
                await bot.stories.reserve(
                    story, interaction.id, interaction.user.id, bot.clock(), replaces=panel
                )
            except StoryError as error:
                raise InvalidRequest(error.message, **error.values) from None
            return Request(await rerolled(job), images_of(bot, job), job.character_id)

        await bot.intake.start_request(interaction, request, parent_job_id=panel.job_id)

    async def redraw(self, interaction: discord.Interaction) -> None:
        """Show the current page again, after a change (the interaction is deferred)."""
        page = await self.render()
        await interaction.edit_original_response(
            content=page["content"],
            embeds=page["embeds"],
            attachments=page["files"],
            view=self,
            allowed_mentions=NO_MENTIONS,
        )


class CaptionForm(views.Modal):
    """A panel's caption, drawn under it on the exported pages."""

    def __init__(self, board: StoryBoard, panel: Panel) -> None:
        locale = locale_of(board.origin)
        super().__init__(title=tr(locale, "Caption of panel {number}", number=panel.position + 1))
        self.board = board
        self.panel = panel
        self.caption: discord.ui.TextInput[CaptionForm] = discord.ui.TextInput(
            label=tr(locale, "Caption (empty: none)"),
            style=discord.TextStyle.paragraph,
            default=panel.caption,
            required=False,
            max_length=MAX_CAPTION_LENGTH,
            custom_id="caption",
        )
        self.add_item(self.caption)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await self.board.bot.stories.set_caption(self.panel.id, self.caption.value)
        await self.board.redraw(interaction)
