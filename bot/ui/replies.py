"""Private replies to users: one way to send them, and one wording for each kind of failure."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

import discord

from bot import segmind
from bot.domain.errors import UserError
from bot.ui.message_limits import fit_content

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
# Discord's answer to a second response: another process of the bot answered first (two
# overlap during a deploy, and each receives every interaction).
ALREADY_ACKNOWLEDGED = 40060


async def send_private(
    interaction: discord.Interaction,
    content: str | None,
    *,
    files: Sequence[discord.File] = (),
    embed: discord.Embed | None = None,
) -> None:
    """Answer privately, whether or not the interaction was answered already."""
    content = fit_content(content) if content is not None else None
    extra: dict[str, Any] = {"files": list(files)} if files else {}
    if embed is not None:
        extra["embed"] = embed
    try:
        if interaction.response.is_done():
            await interaction.followup.send(
                content, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra
            )
        else:
            await interaction.response.send_message(
                content, ephemeral=True, allowed_mentions=NO_MENTIONS, **extra
            )
    except discord.HTTPException as error:
        if error.code == ALREADY_ACKNOWLEDGED:
            _answered_elsewhere(interaction)
        else:
            log.warning("could not reply to interaction %s: %s", interaction.id, error)


async def answer_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The one answer to a command, button or form that failed: a UserError's own message,
    anything else a generic one with a reference to the logged traceback. Private, whether or
    not the interaction was answered already; nothing when another process answered it."""
    if isinstance(error, discord.HTTPException) and error.code == ALREADY_ACKNOWLEDGED:
        _answered_elsewhere(interaction)
        return
    if isinstance(error, UserError):
        await send_private(interaction, str(error))
        return
    await send_private(interaction, report_unexpected(error, _source(interaction)))


def _answered_elsewhere(interaction: discord.Interaction) -> None:
    log.info("interaction %s was answered by another process of the bot", interaction.id)


def _source(interaction: discord.Interaction) -> str:
    """What the user used, for the log: "/pose", "component pose:reroll:12", "form …"."""
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    custom_id = (interaction.data or {}).get("custom_id", "?")
    if interaction.type is discord.InteractionType.modal_submit:
        return f"form {custom_id}"
    return f"component {custom_id}"


def report_unexpected(error: BaseException, context: str) -> str:
    """Log an unexpected error with a short reference and return the user's message for it."""
    reference = secrets.token_hex(4)
    log.error("unexpected error in %s [ref %s]", context, reference, exc_info=error)
    return (
        "Something went wrong on our side. If it keeps happening, "
        f"give the bot's owner this reference: `{reference}`."
    )


def explain(error: Exception) -> str:
    """What a known failure means for the user, and what to do about it."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, segmind.BadRequest):
        return f"The image service refused this request: {error.message}"
    if isinstance(error, segmind.AccessDenied):
        return (
            "The bot is misconfigured: the image service refused its access. "
            "Please tell the bot's owner; nothing was charged."
        )
    if isinstance(error, segmind.OutOfCredits):
        return (
            "The bot's credits have run out, so it cannot make images until its owner tops them up."
        )
    if isinstance(error, segmind.TimedOut):
        return (
            "The generation timed out. The image service may be overloaded; "
            "please try again in a few minutes."
        )
    if isinstance(error, segmind.GenerationFailed):
        return f"The image service could not make this image: {error.message}"
    if isinstance(error, segmind.InvalidResult):
        return "The image service answered with something that is not an image. Please try again."
    if isinstance(error, segmind.Unavailable):
        return (
            "The image service is having trouble right now; nothing was charged. "
            "Please try again in a few minutes."
        )
    return "The image service answered with an error; please try again later."


def timestamp(epoch: float) -> str:
    return f"<t:{int(epoch + 0.999)}:R>"
