"""/pose is acknowledged before it reads the database: a database that answers slowly (a
failover's retries, a burst of requests) must not make the bot miss Discord's 3 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.posebot import PoseBot
from bot.storage.database import Database
from tests.cogs.admin.test_server_admin_e2e import admin
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.user_actions import delivered, pose, private_text, refused, save_character


class HeldDatabase:
    """Every statement of the bot's database waits until `release()`: while held, no read
    completes, so whatever Discord receives meanwhile was sent before any read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, database: Database) -> None:
        self._open = asyncio.Event()
        self.waiting = 0
        for name in ("fetch", "execute", "run"):
            monkeypatch.setattr(database, name, self._held(getattr(database, name)))

    def _held(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def held(*args: Any) -> Any:
            self.waiting += 1
            try:
                await self._open.wait()
            finally:
                self.waiting -= 1
            return await method(*args)

        return held

    def release(self) -> None:
        self._open.set()


@pytest.fixture
async def hold(
    start_bot: StartBot, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[[PoseBot], HeldDatabase]]:
    """Holds a bot's database; released at the end whatever happened (before the bot stops)."""
    made: list[HeldDatabase] = []

    def hold_database(bot: PoseBot) -> HeldDatabase:
        made.append(HeldDatabase(monkeypatch, bot.store.database))
        return made[-1]

    yield hold_database
    for held in made:
        held.release()


async def pose_saved(
    discord_api: FakeDiscord, saved: str, user: dict[str, Any] | None = None
) -> FakeInteraction:
    return await discord_api.invoke(
        "pose",
        [
            {"name": "prompt", "type": 3, "value": "waving"},
            {"name": "saved", "type": 3, "value": saved},
        ],
        user=user,
    )


async def deferred_while_held(interaction: FakeInteraction, held: HeldDatabase) -> None:
    await interaction.wait_for(lambda i: i.deferred, timeout=10)
    assert held.waiting, "the request was waiting for the database when it was acknowledged"


async def test_pose_is_acknowledged_before_any_database_read(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    database_url: str,
    hold: Callable[[PoseBot], HeldDatabase],
) -> None:
    bot = await start_bot(database_url=database_url)
    user = discord_api.make_user(71, "saver")
    await save_character(bot, 71, "Mira", "red scarf")
    held = hold(bot)

    attached = await pose(discord_api)
    saved = await pose_saved(discord_api, "Mira", user)
    await deferred_while_held(attached, held)
    await deferred_while_held(saved, held)
    assert attached.callbacks[0][1].get("flags", 0) & 64 == 0, "a public server: a public card"

    held.release()
    await delivered(attached)
    result = await delivered(saved)
    assert not result.ephemeral


async def test_a_private_server_is_deferred_privately_without_a_read(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    database_url: str,
    hold: Callable[[PoseBot], HeldDatabase],
) -> None:
    bot = await start_bot(database_url=database_url)
    assert "Results: private" in await admin(discord_api, "results", private=True)
    held = hold(bot)

    interaction = await pose(discord_api)
    await deferred_while_held(interaction, held)
    assert interaction.deferred_ephemeral, "even the 'thinking' was private"
    held.release()
    assert (await delivered(interaction)).ephemeral


async def test_a_private_server_stays_private_after_a_restart(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    first = await start_bot(database_url=database_url)
    assert "Results: private" in await admin(discord_api, "results", private=True)
    await first.shutdown(grace=5)
    # The new process has not read the server's settings when the first request comes.
    await start_bot(database_url=database_url)

    interaction = await pose(discord_api)
    await interaction.wait_for(lambda i: any(m.files for m in i.messages() if not m.deleted))
    [result] = [m for m in interaction.messages() if not m.deleted]
    assert result.files and result.ephemeral, "the card, and the result in it, are private"
    in_guild = [m for m in discord_api.channel_messages if m.channel_id == FakeDiscord.CHANNEL_ID]
    assert in_guild == [], "nothing was posted where others can see it"


async def test_a_missing_character_is_refused_privately_after_the_deferral(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    await start_bot(database_url=database_url)
    interaction = await pose_saved(discord_api, "Nobody")
    assert "no character called “Nobody”" in await refused(interaction)
    assert interaction.original is None, "the public card went"
    assert private_text(interaction) is not None
