"""Per-server settings that a server's admins choose, kept in the database.

Every rule here is checked before anything is paid for: where /pose may be used, the server's
caps, blocked words; and what every request gets: the server's default negative prompt and,
unless an age-restricted channel allows more, one that excludes nudity.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from bot.domain.server_rules import ServerSettings
from bot.storage.database import Database, Row

log = logging.getLogger(__name__)


def _settings(row: Row) -> ServerSettings:
    return ServerSettings(
        guild_id=row["guild_id"],
        enabled=row["enabled"],
        channels=tuple(json.loads(row["channels"])),
        daily_cap=row["daily_cap"],
        user_cap=row["user_cap"],
        negative_prompt=row["negative_prompt"],
        nsfw_allowed=row["nsfw_allowed"],
        blocked_words=tuple(json.loads(row["blocked_words"])),
        private_results=row["private_results"],
    )


# Where an /admin change is announced, with the server's id, to every process's cache.
SETTINGS_CHANNEL = "posebot_settings"
# How long a cached copy is trusted: without notifications (SQLite) a change made by another
# process is seen this soon; with them, this only covers a notification lost on the way.
POLLING_TTL_SECONDS = 1.0
LISTENING_TTL_SECONDS = 5.0


class ServerSettingsStore:
    """Each server's settings, kept in memory for a moment: another process's /admin change
    drops the copy at once where the database notifies (PostgreSQL), else within a second."""

    def __init__(self, database: Database, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self._clock = clock
        self._ttl = POLLING_TTL_SECONDS
        self._cache: dict[int, tuple[ServerSettings, float]] = {}
        self._changes = 0  # notifications heard: a read they overtook is not kept
        # This process's own announcements still on their way back to it, by server: the
        # copy it saved is the newest, and its own echo need not drop it.
        self._own_echoes: dict[int, int] = {}

    async def start(self) -> None:
        """Listen for other processes' changes, where the database can tell."""
        if await self.database.listen_for(SETTINGS_CHANNEL, self._changed):
            self._ttl = LISTENING_TTL_SECONDS

    def _changed(self, payload: str | None) -> None:
        self._changes += 1
        if payload is None or not payload.isdigit():
            self._cache.clear()  # notifications may have been missed: anything may differ
            return
        guild_id = int(payload)
        if self._own_echoes.get(guild_id, 0) > 0:
            # Taken for this process's own echo; were it another's change, this process's own
            # echo still follows and drops the copy then.
            self._own_echoes[guild_id] -= 1
            return
        self._cache.pop(guild_id, None)

    def cached(self, guild_id: int) -> ServerSettings | None:
        """The copy in memory, however old, for what must not wait for the database (how a
        deferral shows); the rules themselves are read with `get`."""
        kept = self._cache.get(guild_id)
        return kept[0] if kept is not None else None

    async def get(self, guild_id: int, *, fresh: bool = False) -> ServerSettings:
        """The server's settings; `fresh`: read from the database whatever is in memory (before
        a change, so that it starts from what another process may have saved)."""
        kept = self._cache.get(guild_id)
        if not fresh and kept is not None and self._clock() - kept[1] < self._ttl:
            return kept[0]
        read_at, changes = self._clock(), self._changes
        rows = await self.database.fetch(
            "SELECT * FROM server_settings WHERE guild_id = $1", guild_id
        )
        settings = _settings(rows[0]) if rows else ServerSettings(guild_id)
        if changes == self._changes:
            self._cache[guild_id] = (settings, read_at)
        return settings

    async def save(self, settings: ServerSettings) -> None:
        await self.database.execute(
            "INSERT INTO server_settings (guild_id, enabled, channels, daily_cap, user_cap,"
            " negative_prompt, nsfw_allowed, blocked_words, private_results)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (guild_id) DO UPDATE SET enabled = excluded.enabled,"
            " channels = excluded.channels, daily_cap = excluded.daily_cap,"
            " user_cap = excluded.user_cap, negative_prompt = excluded.negative_prompt,"
            " nsfw_allowed = excluded.nsfw_allowed, blocked_words = excluded.blocked_words,"
            " private_results = excluded.private_results",
            settings.guild_id,
            settings.enabled,
            json.dumps(list(settings.channels)),
            settings.daily_cap,
            settings.user_cap,
            settings.negative_prompt,
            settings.nsfw_allowed,
            json.dumps(list(settings.blocked_words)),
            settings.private_results,
        )
        # This process knows them now; a read another notification overtakes is not kept.
        self._changes += 1
        self._cache[settings.guild_id] = (settings, self._clock())
        try:
            if self._ttl == LISTENING_TTL_SECONDS:  # it hears its own announcements
                self._own_echoes[settings.guild_id] = self._own_echoes.get(settings.guild_id, 0) + 1
            await self.database.notify(SETTINGS_CHANNEL, str(settings.guild_id))
        except Exception as error:  # saved all the same: the others see it once their copy ages
            log.warning("could not tell the other processes of a settings change (%s)", error)
