"""Which processes of the bot are alive: each renews a row of its own (in `leases`, named
`process:{role}:{owner}`) as it renews its jobs' leases, so /status reads them from the
database whatever process answers it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.database import Database

PREFIX = "process:"
# A process gone this long is forgotten; until then /status does not list it (its row is dead).
FORGET_SECONDS = 3600.0


@dataclass(frozen=True)
class Process:
    role: str  # all, gateway or worker
    name: str  # as an owner of jobs: host, pid and a random tail
    alive_until: float  # its last beat plus its lease


class Heartbeats:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def beat(self, role: str, owner: str, now: float, lease_seconds: float) -> None:
        await self.database.execute(
            "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO UPDATE SET until = excluded.until",
            f"{PREFIX}{role}:{owner}",
            owner,
            now + lease_seconds,
        )
        # Each start is a new name: the rows of processes long gone go with the beats.
        await self.database.execute(
            "DELETE FROM leases WHERE name LIKE $1 AND until < $2",
            f"{PREFIX}%",
            now - FORGET_SECONDS,
        )

    async def stopped(self, owner: str) -> None:
        await self.database.execute(
            "UPDATE leases SET until = 0 WHERE name LIKE $1 AND owner = $2", f"{PREFIX}%", owner
        )

    async def alive(self, now: float) -> list[Process]:
        rows = await self.database.fetch(
            "SELECT name, owner, until FROM leases WHERE name LIKE $1 AND until > $2 ORDER BY name",
            f"{PREFIX}%",
            now,
        )
        return [
            Process(row["name"].removeprefix(PREFIX).split(":", 1)[0], row["owner"], row["until"])
            for row in rows
        ]
