"""At LOG_LEVEL=DEBUG the bot's log says more, but never what the libraries below it would
write at their DEBUG: interaction tokens (in webhook URLs and gateway events) and the
parameters of every statement (image bytes)."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import API_KEY, FakeSegmind
from tests.user_actions import delivered, pose

# How image bytes look in a logged repr: PNG's and JPEG's first bytes.
IMAGE_BYTES = ("\\x89PNG", "\\xff\\xd8\\xff")


async def test_a_run_at_debug_logs_no_interaction_token_and_no_image_bytes(
    discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "SEGMIND_BASE_URL": segmind.base_url,
        "LOG_LEVEL": "DEBUG",
    }
    bot = await BotProcess.start(discord_api, tmp_path, env, "debug")
    try:
        await discord_api.wait_identified(timeout=30)
        await discord_api.wait_for(lambda: bool(discord_api.synced_commands), timeout=30)
        interaction = await pose(discord_api, prompt="logged at debug")
        await delivered(interaction, timeout=30)
        assert await bot.stop(signal.SIGTERM) == 0, bot.log
    finally:
        await bot.kill_if_running()

    log = bot.log
    assert " DEBUG " in log, "the level is honoured for the bot's own loggers"
    assert interaction.token not in log
    assert API_KEY not in log
    for marker in IMAGE_BYTES:
        assert marker not in log
