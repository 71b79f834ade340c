"""A job's messages in Discord, for everything that shows or acts on them: the webhook of its
interaction (while its token lives), its language, its result's link, the job a button names.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.errors import UserError
from bot.storage.job_store import Job
from bot.ui.i18n import mark

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)


# Interaction tokens live 15 minutes; keep a margin for the last call to get through.
TOKEN_MARGIN_SECONDS = 60
# Ids are signed 64-bit integers in both databases: a button naming a larger one is forged.
MAX_STORED_ID = 2**63 - 1


def interaction_webhook(bot: PoseBot, job: Job) -> discord.Webhook:
    """The webhook behind a stored interaction token, built as discord.py builds
    `Interaction.followup` (an application webhook, so it may send private messages),
    so that a job can be shown and delivered after a restart too."""
    data: Any = {"id": job.application_id, "type": 3, "token": job.token}
    return discord.Webhook.from_state(data=data, state=bot._connection)


async def job_of_button(bot: PoseBot, job_id: int) -> Job | None:
    """The stored job a button names, or None when it is gone."""
    if job_id > MAX_STORED_ID:
        raise UserError(mark("This button does not belong to any request of this bot."))
    return await bot.store.job(job_id)


def check_on_its_message(interaction: discord.Interaction, job: Job) -> None:
    """A job's buttons act only on its own card or result, whatever their custom_id says."""
    message = interaction.message
    if message is None or message.id not in (job.status_message_id, job.result_message_id):
        raise UserError(mark("This button does not belong to this message's request."))


def card_locale(job: Job) -> str:
    """The language of a job's card and result: its server's, unless only its requester sees
    them (the server keeps results private)."""
    return job.locale if job.private else job.guild_locale


def token_alive(bot: PoseBot, job: Job) -> bool:
    """Whether the job's interaction token can still edit its card and speak privately."""
    return bot.clock() < job.token_expires_at - TOKEN_MARGIN_SECONDS


async def remove_card(bot: PoseBot, job: Job) -> None:
    """Take down a job's public card, while its token lives (after that it cannot be)."""
    if job.status_message_id is None or not token_alive(bot, job):
        return
    try:
        await interaction_webhook(bot, job).delete_message(job.status_message_id)
    except discord.HTTPException as problem:
        log.warning("could not remove the card of job %s: %s", job.id, problem)


def result_link(job: Job) -> str:
    guild = job.guild_id or "@me"
    return f"https://discord.com/channels/{guild}/{job.channel_id}/{job.result_message_id}"
