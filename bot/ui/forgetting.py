"""What /forget-me can still take down on Discord: the bot's own result messages that carry a
forgotten user's images."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

if TYPE_CHECKING:
    from bot.posebot import PoseBot

log = logging.getLogger(__name__)


async def remove_results(bot: PoseBot, results: list[tuple[int, int]]) -> int:
    """Delete the bot's result messages (channel, message); returns how many could not be: a
    channel the bot lost access to, a private answer (only its reader can dismiss it). A
    message already gone counts as removed."""
    failed = 0
    for channel_id, message_id in results:
        try:
            await bot.http.delete_message(channel_id, message_id, reason="/forget-me")
        except discord.NotFound:
            continue
        except discord.HTTPException as error:
            log.info("could not delete result message %s: %s", message_id, error.status)
            failed += 1
    return failed
