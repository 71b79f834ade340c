"""Start-up: the bot's wiring in one place, and a command extension that fails to load stops
start-up with its own error rather than a bot missing commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from discord.ext import commands

from bot import posebot
from bot.posebot import PoseBot
from bot.settings import Settings
from bot.storage.database import connect
from bot.storage.job_store import JobStore
from tests.fakes.discord import FakeDiscord


async def test_an_extension_that_fails_to_load_stops_start_up_naming_it(
    discord_api: FakeDiscord,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "broken_commands.py").write_text(
        "async def setup(bot):\n    raise RuntimeError('the broken extension says why')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(posebot, "EXTENSIONS", (*posebot.EXTENSIONS, "broken_commands"))
    settings = make_settings(database_url=f"sqlite:///{tmp_path / 'bot.db'}")
    store = JobStore(await connect(settings.database_url))
    await store.migrate()
    async with aiohttp.ClientSession() as session:
        bot = PoseBot(settings, session, store)
        try:
            with pytest.raises(commands.ExtensionFailed) as failed:
                await bot.start(settings.discord_token)
        finally:
            await bot.close()
            await store.close()
    assert failed.value.name == "broken_commands"
    assert "the broken extension says why" in str(failed.value)
    # Nothing half-started: no commands were registered and no job runs.
    assert discord_api.synced_commands == []
    sys.modules.pop("broken_commands", None)
