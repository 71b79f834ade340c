"""The bot runs as the image lays it out: only what the Dockerfile copies, with the image's
environment, from a working directory of its own where the SQLite file is kept."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path

from tests import dockerfile
from tests.bot_process import ROOT, BotProcess
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import delivered, pose


def _image_environment(instructions: list[dockerfile.Instruction]) -> dict[str, str]:
    env = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(instruction.arguments))
    return env


async def test_the_bot_runs_from_what_the_image_copies_and_keeps_its_data_apart(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path
) -> None:
    instructions = dockerfile.parse((ROOT / "Dockerfile").read_text())
    image = tmp_path / "image"
    # .dockerignore leaves compiled files out.
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for instruction in instructions:
        if instruction.keyword == "COPY":
            source, target = instruction.arguments.split()
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, image / target.lstrip("/"), ignore=ignore)
    workdir = [i.arguments for i in instructions if i.keyword == "WORKDIR"][-1]
    data = image / workdir.lstrip("/")
    data.mkdir(parents=True)
    env = _image_environment(instructions)
    # The image's PYTHONPATH, then a copy of the test harness alone (tests/, which points
    # discord.py at the fake): nothing else of the checkout is there to be found.
    app = image / env["PYTHONPATH"].lstrip("/")
    harness = tmp_path / "harness"
    shutil.copytree(ROOT / "tests", harness / "tests", ignore=ignore)
    env["PYTHONPATH"] = f"{app}{os.pathsep}{harness}"
    env["SEGMIND_BASE_URL"] = segmind.base_url
    found = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import bot; print(bot.__file__)",
        cwd=data,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
    )
    where, _ = await found.communicate()
    assert Path(where.decode().strip()).is_relative_to(app)

    bot = await BotProcess.start(discord_api, data, env, "image")
    try:
        await discord_api.wait_identified(timeout=30)
        await discord_api.wait_for(lambda: bool(discord_api.synced_commands), timeout=30)
        await delivered(await pose(discord_api, prompt="from the image"), timeout=30)
        assert await bot.stop(signal.SIGTERM) == 0, bot.log
    finally:
        await bot.kill_if_running()

    # With no DATABASE_URL the SQLite file is in the working directory, the image's /data.
    assert (data / "posebot.db").is_file()
    # Nothing was written beside the code (no compiled files: PYTHONDONTWRITEBYTECODE).
    assert not list(app.rglob("__pycache__"))
