"""The bot as a real process, the way the platform runs it: started, signalled, stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.conftest import BOT_TOKEN
from tests.fake_discord import FakeDiscord
from tests.fake_segmind import API_KEY, FakeSegmind
from tests.user_actions import finished, pose

ROOT = Path(__file__).resolve().parent.parent


async def start_bot_process(
    discord_api: FakeDiscord, segmind: FakeSegmind, cwd: Path
) -> asyncio.subprocess.Process:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "SEGMIND_", "USER_"))
    }
    env = {
        **inherited,
        "PYTHONPATH": str(ROOT),
        "FAKE_DISCORD_URL": discord_api.base_url,
        "DISCORD_TOKEN": BOT_TOKEN,
        "SEGMIND_API_KEY": API_KEY,
        "SEGMIND_BASE_URL": segmind.base_url,
        "DISCORD_GUILD_ID": str(FakeDiscord.GUILD_ID),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bot_process",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    await discord_api.wait_identified(timeout=30)
    await discord_api.wait_for(lambda: bool(discord_api.synced_commands), timeout=30)
    return process


async def test_sigterm_lets_the_running_generation_finish_then_exits_0(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path
) -> None:
    segmind.latency = 1.5
    process = await start_bot_process(discord_api, segmind, tmp_path)
    try:
        interaction = await pose(discord_api)
        await discord_api.wait_for(lambda: len(segmind.submits) == 1)
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=40)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = output.decode()
    assert process.returncode == 0, log
    assert (await finished(interaction, timeout=1)).startswith("✅ Done")
    assert "received SIGTERM" in log
    assert "Traceback" not in log
    assert API_KEY not in log
    assert BOT_TOKEN not in log
    assert len(segmind.submits) == 1
