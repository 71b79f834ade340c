"""The buttons under a result (Reroll, New pose, Save character, Add to story, Delete), also
on a /history page. Each press is a new request by whoever pressed it. DynamicItems whose
custom_id holds the job's id, so they keep working after a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.domain.errors import UserError
from bot.storage.job_store import Job
from bot.ui import views
from bot.ui.i18n import locale_of, mark, tr
from bot.ui.job_messages import check_on_its_message, job_of_button
from bot.ui.replies import send_private
from bot.ui.result_forms import NewPoseModal, SaveCharacterModal
from bot.ui.result_reuse import NOT_STORED, rerolled, reuse_result
from bot.ui.story_adding import add_to_story

if TYPE_CHECKING:
    from bot.posebot import PoseBot

RESULT_ACTIONS = {
    "reroll": (mark("Reroll"), "🎲", discord.ButtonStyle.primary),
    "newpose": (mark("New pose"), "✏️", discord.ButtonStyle.secondary),
    "save": (mark("Save character"), "💾", discord.ButtonStyle.secondary),
    "story": (mark("Add to story"), "📖", discord.ButtonStyle.secondary),
    "delete": (mark("Delete"), "🗑️", discord.ButtonStyle.danger),
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"pose:(?P<action>reroll|newpose|save|story|delete):(?P<id>[0-9]+)(?P<history>:h)?",
):
    """A result's button; with `from_history`, the same one in its requester's /history
    (Reroll and New pose only), where it acts for the requester alone."""

    def __init__(
        self,
        action: str,
        job_id: int,
        locale: str | None = None,
        *,
        from_history: bool = False,
        label: str | None = None,
    ) -> None:
        default_label, emoji, style = RESULT_ACTIONS[action]
        suffix = ":h" if from_history else ""
        super().__init__(
            discord.ui.Button(
                label=label or tr(locale, default_label),
                emoji=emoji,
                style=style,
                custom_id=f"pose:{action}:{job_id}{suffix}",
            )
        )
        self.action = action
        self.job_id = job_id
        self.from_history = from_history

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> ResultButton:
        return cls(match["action"], int(match["id"]), from_history=bool(match["history"]))

    @views.answer_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        locale = locale_of(interaction)
        if self.action == "reroll":
            # The same request again with a new seed: nothing is left out, so the presser's
            # defaults (/settings) do not apply.
            await reuse_result(interaction, self, rerolled)
            return
        if self.action == "newpose":
            # A form cannot follow a deferral: it is filled from the prompt the message shows,
            # and the result is read once the form is sent.
            prompt = shown_prompt(interaction.message, self)
            if prompt is None:  # shown cut short: read in full
                job = await self._job(interaction, bot, locale)
                prompt = job.options.prompt if job is not None else None
            if prompt is not None:
                await interaction.response.send_modal(NewPoseModal(self, prompt, locale))
            return
        job = await self._job(interaction, bot, locale)
        if job is None:
            return
        if self.action == "delete":
            await delete_result(interaction, job)
        elif self.action == "story":
            await add_to_story(interaction, job)
        else:
            attachment = result_attachment(interaction.message)
            await interaction.response.send_modal(SaveCharacterModal(job, locale, attachment))

    async def _job(
        self, interaction: discord.Interaction, bot: PoseBot, locale: discord.Locale
    ) -> Job | None:
        """The result this button acts on, if its presser may act on it here."""
        job = await job_of_button(bot, self.job_id)
        if job is None:
            await send_private(interaction, tr(locale, NOT_STORED))
            return None
        self.check(interaction, job)
        return job

    def check(self, interaction: discord.Interaction, job: Job) -> None:
        """Raises UserError when this button may not act on `job` for this presser."""
        if self.from_history:
            # A /history page lists its reader's own results: no one else may act from it.
            if job.requester_id != interaction.user.id or self.action not in HISTORY_ACTIONS:
                raise UserError(mark("This button belongs to someone else's history."))
        else:
            check_on_its_message(interaction, job)


HISTORY_ACTIONS = ("reroll", "newpose")


def shown_prompt(message: discord.Message | None, button: ResultButton) -> str | None:
    """The prompt of the button's result as its message shows it in full: a result's embed,
    or on a /history page the embed numbered as the button; None when not shown in full."""
    if message is None or not message.embeds:
        return None
    embed = message.embeds[0]
    if button.from_history:
        labels = [
            child.label
            for row in message.components
            if isinstance(row, discord.ActionRow)
            for child in row.children
            if isinstance(child, discord.Button) and child.custom_id == button.custom_id
        ]
        numbered = [e for e in message.embeds if labels and e.title == f"{labels[0]}."]
        if not numbered:
            return None
        embed = numbered[0]
    prompt = embed.description or ""
    if not prompt or prompt.endswith("…"):
        return None
    return prompt


def result_view(job_id: int, locale: str | None = None) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in RESULT_ACTIONS:
        view.add_item(ResultButton(action, job_id, locale))
    return view


def result_attachment(message: discord.Message | None) -> discord.Attachment | None:
    """The image a result message carries: Discord's copy, once the bot's own is gone."""
    if message is None:
        return None
    return next(
        (a for a in message.attachments if (a.content_type or "image/").startswith("image/")),
        None,
    )


async def delete_result(interaction: discord.Interaction, job: Job) -> None:
    permissions = interaction.permissions
    if interaction.user.id != job.requester_id and not permissions.manage_messages:
        await send_private(
            interaction,
            tr(
                locale_of(interaction),
                "Only the person who asked for this, or a moderator, can delete it.",
            ),
        )
        return
    await interaction.response.defer()
    await interaction.delete_original_response()  # the message the button is on
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    await bot.history.result_deleted(job.id)
