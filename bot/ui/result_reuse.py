"""A new request made from a stored result (Reroll, New pose): answered before anything is
read, made with the result's own images, under the rules of the server it was made in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.domain.errors import UserError
from bot.domain.pose_request import InvalidRequest, PoseOptions, random_seed
from bot.storage.job_store import CHARACTER, POSE, Job, StoredImage
from bot.ui.i18n import locale_of, mark
from bot.ui.job_messages import job_of_button
from bot.ui.replies import report_unexpected, send_private, user_text

if TYPE_CHECKING:
    from bot.posebot import PoseBot
    from bot.ui.result_buttons import ResultButton


NOT_STORED = mark("This result is no longer stored, so it cannot be reused.")
OUTSIDE_A_SERVER = mark(
    "This result was not made in a server, so it cannot be reused from here. "
    "Start again with /pose in a server."
)


# Why a Reroll or New pose of an old result cannot be made, and what can be.
IMAGES_GONE = mark(
    "The images behind this result are no longer kept: the bot keeps them {days} days after "
    "their last use. 💾 **Save character** still keeps this character for good, or start "
    "again with `/pose`."
)


def retention_days(bot: PoseBot) -> str:
    return f"{bot.settings.image_retention_days:g}"


async def reuse_result(
    interaction: discord.Interaction,
    button: ResultButton,
    make_options: Callable[[Job], Awaitable[PoseOptions]],
) -> None:
    """A new request from a result (Reroll, New pose): deferred before anything is read, then
    made with the result's images, under the rules of the result's server."""
    bot: PoseBot = interaction.client  # type: ignore[assignment]
    locale = locale_of(interaction)
    refusal = await bot.intake.refusal(interaction.user.id, locale)
    if refusal is not None:
        await send_private(interaction, refusal)
        return
    # The new card shows as privately as what it came from: a /history page, a private result
    # or a direct message.
    message = interaction.message
    ephemeral = (
        button.from_history
        or interaction.guild_id is None
        or (message is not None and message.flags.ephemeral)
    )
    if not await bot.intake.defer(interaction, ephemeral=ephemeral):
        return  # another process of the bot answered it, and takes care of it
    try:
        job = await job_of_button(bot, button.job_id)
        if job is None:
            raise UserError(NOT_STORED)
        button.check(interaction, job)
        if job.guild_id is None:
            # No server's rules or caps would apply to it: made outside any, it stays there.
            raise UserError(OUTSIDE_A_SERVER)
        if CHARACTER not in await bot.store.image_roles(job.id):
            raise UserError(IMAGES_GONE, days=retention_days(bot))
        options = await make_options(job)
    except Exception as error:
        # After a public deferral a private answer means taking the card down first.
        if isinstance(error, UserError):
            text = user_text(locale, error)
        else:
            text = report_unexpected(error, f"result button of job {button.job_id}", locale)
        await bot.intake.refuse(interaction, text)
        return
    await bot.intake.start_job(
        interaction,
        options,
        images_of(bot, job),
        parent_job_id=job.id,
        character_id=job.character_id,
        guild_id=job.guild_id,
        channel_id=job.channel_id,
    )


async def rerolled(job: Job) -> PoseOptions:
    return dataclasses.replace(job.options, seed=random_seed())


def images_of(bot: PoseBot, job: Job) -> Any:
    """The job's own inputs, for a new request made from its result."""

    async def load() -> list[StoredImage]:
        stored = await bot.store.images(job.id)
        if CHARACTER not in stored:  # let go of since the button was pressed
            raise InvalidRequest(IMAGES_GONE, days=retention_days(bot))
        # As base64: the attachment URLs they came from may have expired by now.
        return [
            dataclasses.replace(stored[role], source_url=None)
            for role in (CHARACTER, POSE)
            if role in stored
        ]

    return load
