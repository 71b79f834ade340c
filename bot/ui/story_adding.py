"""📖 Add to story: a result becomes the last panel of the presser's current story (the one
they last used), or of a story they choose; nothing is generated or paid again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.domain.stories import Story, StoryError, may_add
from bot.storage.job_store import Job
from bot.ui import views
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.replies import send_private

if TYPE_CHECKING:
    from bot.posebot import PoseBot

NO_STORY = mark("You have no story yet. Start one with `/story new name:…`, then press 📖 again.")
MAX_OPTIONS = 25  # Discord's limit for a select's options


async def add_to_story(interaction: discord.Interaction, job: Job) -> None:
    """Add the result to the presser's current story; with none yet, let them choose one."""
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    locale = locale_of(interaction)
    user_id = interaction.user.id
    story = await bot.stories.current(user_id, interaction.guild_id)
    if story is not None:
        await send_private(interaction, await add_panel(bot, interaction, story, job))
        return
    usable = await bot.stories.usable(user_id, interaction.guild_id)
    if not usable:
        await send_private(interaction, tr(locale, NO_STORY))
        return
    await interaction.response.send_message(
        tr(locale, "Which story should this result go into?"),
        view=StoryChoice(interaction, job, usable[:MAX_OPTIONS]),
        ephemeral=True,
    )


async def add_panel(bot: PoseBot, interaction: discord.Interaction, story: Story, job: Job) -> str:
    """Add the result to `story` for this user; the answer to show them."""
    locale = locale_of(interaction)
    if not may_add(story, interaction.user.id, interaction.guild_id):
        raise StoryError(mark("Only the owner of “{name}” can add to it."), name=story.name)
    panel = await bot.stories.add_result(story, job.id, interaction.user.id, bot.clock())
    return tr(
        locale,
        "Added to “{name}” as panel {number}. `/story show story:{name}` arranges and captions "
        "its panels.",
        name=story.name,
        number=panel.position + 1,
    )


class StoryChoice(views.PrivatePanel):
    """A private choice of the presser's stories for one result."""

    def __init__(self, origin: discord.Interaction, job: Job, stories: list[Story]) -> None:
        super().__init__(origin)
        self.job = job
        self.stories = {str(story.id): story for story in stories}
        select: discord.ui.Select[StoryChoice] = discord.ui.Select(
            placeholder=tr(locale_of(origin), "Choose a story"),
            options=[
                discord.SelectOption(label=story.name, value=str(story.id)) for story in stories
            ],
        )
        select.callback = self._chosen  # type: ignore[method-assign]
        self.select = select
        self.add_item(select)

    async def _chosen(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        story = self.stories[self.select.values[0]]
        text = await add_panel(bot, interaction, story, self.job)
        self.stop()
        await interaction.response.edit_message(content=text, view=None)
