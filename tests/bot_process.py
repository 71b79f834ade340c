"""The bot as a child process, exactly as `python -m bot` runs it, with discord.py pointed at
a fake Discord (FAKE_DISCORD_URL). Only the library's addresses change; the bot's code does not.

`python -m tests.bot_child` is the child; `BotProcess` starts and stops one from a test or
the benchmark.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.conftest import BOT_TOKEN
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import API_KEY

ROOT = Path(__file__).resolve().parent.parent


class BotProcess:
    """`python -m bot` in a child process, with discord.py pointed at the fake Discord."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @classmethod
    async def start(
        cls,
        discord_api: FakeDiscord,
        cwd: Path,
        env: dict[str, str],
        name: str,
        args: Sequence[str] = (),
    ) -> BotProcess:
        """`python -m bot` with `args` (`check`, say), its output in `cwd`/`name`.log."""
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DISCORD_", "SEGMIND_", "USER_", "DATABASE_"))
        }
        log_path = cwd / f"{name}.log"
        with log_path.open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.bot_child",
                *args,
                cwd=cwd,
                env={
                    **inherited,
                    "PYTHONPATH": str(ROOT),
                    "FAKE_DISCORD_URL": discord_api.base_url,
                    "DISCORD_TOKEN": BOT_TOKEN,
                    "SEGMIND_API_KEY": API_KEY,
                    "DISCORD_GUILD_ID": str(FakeDiscord.GUILD_ID),
                    # No successor is coming unless a test starts one and says so.
                    "SHUTDOWN_HANDOVER_SECONDS": "0",
                    **env,
                },
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        return cls(process, log_path)

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    async def exited(self, timeout: float = 60) -> int:
        """The exit status of a process that ends by itself (a check, a refused start)."""
        return await asyncio.wait_for(self.process.wait(), timeout=timeout)

    async def stop(self, sig: signal.Signals, timeout: float = 40) -> int:
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout=timeout)

    async def kill_if_running(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    @property
    def pid(self) -> int:
        return self.process.pid
