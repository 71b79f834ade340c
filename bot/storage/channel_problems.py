"""Channels where Discord refused the bot a delivery (Missing Access, Missing Permissions), kept
in `bot_state` so that every process's /status shows them to the server's admins."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.storage.database import Database

PREFIX = "refused:"  # bot_state keys: refused:{guild id}:{channel id}


@dataclass(frozen=True)
class RefusedDelivery:
    guild_id: int
    channel_id: int
    missing: tuple[str, ...]  # Discord's names of the permissions lacking; empty: unknown
    at: float


class ChannelProblems:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def note(self, guild_id: int, channel_id: int, missing: list[str], now: float) -> None:
        """Remember the latest refusal in a channel (one a channel: the newest wins)."""
        await self.database.execute(
            "INSERT INTO bot_state (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            f"{PREFIX}{guild_id}:{channel_id}",
            json.dumps({"missing": missing, "at": now}),
        )

    async def clear(self, guild_id: int, channel_id: int) -> None:
        """A delivery went through: the channel's refusal is history."""
        await self.database.execute(
            "DELETE FROM bot_state WHERE key = $1", f"{PREFIX}{guild_id}:{channel_id}"
        )

    async def refused(self, guild_id: int | None = None) -> list[RefusedDelivery]:
        """The refusals in one server, or everywhere (None), the newest first."""
        prefix = PREFIX if guild_id is None else f"{PREFIX}{guild_id}:"
        rows = await self.database.fetch(
            "SELECT key, value FROM bot_state WHERE key LIKE $1", f"{prefix}%"
        )
        found = []
        for row in rows:
            guild, channel = row["key"].removeprefix(PREFIX).split(":")
            value = json.loads(row["value"])
            found.append(
                RefusedDelivery(
                    int(guild), int(channel), tuple(value["missing"]), float(value["at"])
                )
            )
        return sorted(found, key=lambda refusal: refusal.at, reverse=True)
