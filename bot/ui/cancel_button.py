"""The Cancel button of a queued job's card: only its requester may press it. A DynamicItem
whose custom_id holds the job's id, so it keeps working after a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.storage.job_store import CANCELLED, Job
from bot.ui import views
from bot.ui.i18n import locale_of, tr
from bot.ui.job_messages import card_locale, check_on_its_message, job_of_button
from bot.ui.replies import NO_MENTIONS, send_private

if TYPE_CHECKING:
    from bot.posebot import PoseBot


# The custom_ids' ids are ASCII digits only: `\d` would also take other scripts' digits.
class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"pose:cancel:(?P<id>[0-9]+)"
):
    """Cancels a queued job; only its requester may. Works after a restart (id in custom_id)."""

    def __init__(self, job_id: int, locale: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=tr(locale, "Cancel"),
                style=discord.ButtonStyle.secondary,
                custom_id=f"pose:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> CancelButton:
        return cls(int(match["id"]))

    @views.answer_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        bot: PoseBot = interaction.client  # type: ignore[assignment]
        locale = locale_of(interaction)
        job = await job_of_button(bot, self.job_id)
        if job is None or job.requester_id != interaction.user.id:
            await send_private(
                interaction, tr(locale, "Only the person who asked for this can cancel it.")
            )
            return
        check_on_its_message(interaction, job)
        if not await bot.runner.cancel(self.job_id):
            # Two presses at once: the one that lost finds the job cancelled, not started.
            now = await bot.store.job(self.job_id)
            if now is None or now.state == CANCELLED:
                text = tr(locale, "It was already cancelled; nothing was charged.")
            else:
                text = tr(locale, "It has already started, so it cannot be cancelled.")
            await send_private(interaction, text)
            return
        await interaction.response.edit_message(
            content=tr(card_locale(job), "🚫 Cancelled. Nothing was charged."),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )


def cancel_view(job: Job) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id, card_locale(job)))
    return view
