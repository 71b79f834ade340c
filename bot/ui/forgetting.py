"""Forgetting a user (/forget-me): what the bot keeps of them goes, and what it can still take
down on Discord goes too (the bot's own result messages that carry their images)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.ui.job_messages import remove_card

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forgetting:
    """What forgetting a user did, for the answer they read."""

    characters: int  # saved characters deleted
    stories: int  # their stories deleted
    requests: int  # requests deleted or cancelled
    others: int  # other people's requests their images were taken out of
    settings: bool  # their /settings were deleted
    unfinished: int  # started requests left to finish (paid for)
    removed: int  # the bot's result messages taken down
    unreachable: int  # result messages the bot could no longer take down


async def forget_user(bot: PoseBot, user_id: int) -> Forgetting:
    """Everything the bot keeps about `user_id` goes, but what was paid (the spend ledger)."""
    characters = await bot.characters.delete_user_data(user_id)
    stories = await bot.stories.delete_user_data(user_id)
    # Others' Rerolls of a result of theirs, poses of a character they shared.
    others = await bot.store.remove_uploads_of(user_id)
    # Waiting requests are cancelled, ended ones deleted; started ones (paid for) finish.
    forgotten = await bot.store.delete_user_data(user_id, bot.clock())
    bot.runner.forgotten(forgotten.cancelled)
    for job in forgotten.cancelled:
        bot.cooldowns.refund(job.requester_id, job.interaction_id)
        await remove_card(bot, job)
    # A sheet's panels are jobs of theirs, gone above; its composed messages go with it.
    sheets = await bot.sheets.delete_user_data(user_id)
    removed, unreachable = await remove_results(bot, [*forgotten.results, *sheets])
    settings = await bot.user_settings.delete_user_data(user_id)
    requests = forgotten.deleted + len(forgotten.cancelled)
    log.info(
        "forgot user %s: %d character(s), %d request(s), uploads in %d other request(s)%s",
        user_id,
        characters,
        requests,
        others,
        ", their /settings" if settings else "",
    )
    return Forgetting(
        characters, stories, requests, others, settings, forgotten.unfinished, removed, unreachable
    )


async def remove_results(bot: PoseBot, results: list[tuple[int, int]]) -> tuple[int, int]:
    """Delete the bot's result messages (channel, message); returns how many were taken down
    and how many could not be: a channel the bot lost access to, a private answer (only its
    reader can dismiss it). A message not found (already deleted, or a result sent by direct
    message, which is not where the job was asked) is counted as neither."""
    removed = failed = 0
    for channel_id, message_id in results:
        try:
            await bot.http.delete_message(channel_id, message_id, reason="/forget-me")
        except discord.NotFound:
            continue
        except discord.HTTPException as error:
            log.info("could not delete result message %s: %s", message_id, error.status)
            failed += 1
        else:
            removed += 1
    return removed, failed
