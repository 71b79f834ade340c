"""The check's verdict on registered commands: this version's commands, as Discord answers
them (leaving out what is empty or false, a bound of 1.0 as 1), are not taken for others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from bot.check.discord_setup import compare_commands
from bot.posebot import PoseBot
from bot.settings import Settings
from bot.storage.database import connect
from bot.storage.job_store import JobStore


def as_discord_answers(command: dict[str, Any]) -> dict[str, Any]:
    """A command as GET /applications/{app}/commands?with_localizations=true shows it."""
    return shown(command) | {"id": "1", "application_id": "2", "version": "3"}


def shown(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            name: shown(item)
            for name, item in value.items()
            if item is not None and item is not False
        }
    if isinstance(value, list):
        return [shown(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


async def this_versions_commands(settings: Settings) -> list[dict[str, Any]]:
    store = JobStore(await connect("sqlite:///:memory:"))
    try:
        async with aiohttp.ClientSession() as session:
            bot = PoseBot(settings, session, store)
            await bot.load_commands()
            return await bot.command_payloads()
    finally:
        await store.close()


async def test_this_versions_commands_as_discord_answers_them_are_this_versions(
    make_settings: Callable[..., Settings],
) -> None:
    ours = await this_versions_commands(make_settings())
    registered = [as_discord_answers(command) for command in ours]
    assert registered != ours  # the two forms differ, as they do with Discord
    assert compare_commands(ours, registered) == []

    [pose] = [command for command in registered if command["name"] == "pose"]
    pose["options"][0]["description"] = "Something an older version said"
    assert compare_commands(ours, registered) == ["/pose changed"]
