"""Private replies to users: one way to send them, and one wording for each kind of failure,
in the language of whom it is for."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

import discord

from bot import segmind
from bot.domain.errors import UserError
from bot.domain.quotas import Refusal
from bot.ui.i18n import locale_of, mark, tr
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
    locale = locale_of(interaction)
    if isinstance(error, UserError):
        await send_private(interaction, user_text(locale, error))
        return
    await send_private(interaction, report_unexpected(error, _source(interaction), locale))


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


def report_unexpected(
    error: BaseException, context: str, locale: discord.Locale | str | None = None
) -> str:
    """Log an unexpected error with a short reference and return the user's message for it."""
    reference = secrets.token_hex(4)
    log.error("unexpected error in %s [ref %s]", context, reference, exc_info=error)
    return tr(
        locale,
        "Something went wrong on our side. If it keeps happening, "
        "give the bot's owner this reference: `{reference}`.",
        reference=reference,
    )


def user_text(locale: discord.Locale | str | None, error: UserError) -> str:
    """A UserError's answer in the language of `locale`."""
    return tr(locale, error.message, **error.values)


def refusal_text(locale: discord.Locale | str | None, refusal: Refusal) -> str:
    """Why a quota refuses a request, in the language of `locale`, its moment as a timestamp."""
    when = timestamp(refusal.frees_at) if refusal.frees_at is not None else mark("later")
    return tr(locale, refusal.reason, when=when, **refusal.values)


# The image service's failures that are the same for every request.
_SERVICE_FAILURES: tuple[tuple[type[segmind.SegmindError], str], ...] = (
    (
        segmind.AccessDenied,
        mark(
            "The bot is misconfigured: the image service refused its access. "
            "Please tell the bot's owner; nothing was charged."
        ),
    ),
    (
        segmind.OutOfCredits,
        mark(
            "The bot's credits have run out, so it cannot make images until its owner tops them up."
        ),
    ),
    (
        segmind.TimedOut,
        mark(
            "The generation timed out. The image service may be overloaded; "
            "please try again in a few minutes."
        ),
    ),
    (
        segmind.ResultExpired,
        mark(
            "Your image could not be collected from the image service in time: the service "
            "no longer has it. Please try again."
        ),
    ),
    (
        segmind.InvalidResult,
        mark("The image service answered with something that is not an image. Please try again."),
    ),
    (
        segmind.Unavailable,
        mark(
            "The image service is having trouble right now; nothing was charged. "
            "Please try again in a few minutes."
        ),
    ),
)


def explain(error: Exception, locale: discord.Locale | str | None = None) -> str:
    """What a known failure means for the user, and what to do about it, in their language.
    The image service's own words (a refusal's reason) are quoted as it wrote them."""
    if isinstance(error, UserError):
        return user_text(locale, error)
    if isinstance(error, segmind.BadRequest):
        return tr(locale, "The image service refused this request: {reason}", reason=error.message)
    if isinstance(error, segmind.GenerationFailed):
        return tr(
            locale, "The image service could not make this image: {reason}", reason=error.message
        )
    for kind, message in _SERVICE_FAILURES:
        if isinstance(error, kind):
            return tr(locale, message)
    return tr(locale, "The image service answered with an error; please try again later.")


def timestamp(epoch: float) -> str:
    return f"<t:{int(epoch + 0.999)}:R>"
