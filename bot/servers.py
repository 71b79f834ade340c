"""Per-server settings that a server's admins choose, kept in the database.

Every rule here is checked before anything is paid for: where /pose may be used, the server's
caps, blocked words; and what every request gets: the server's default negative prompt and,
unless an age-restricted channel allows more, one that excludes nudity.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.database import Database, Row
from bot.text import folded

SAFE_NEGATIVE_PROMPT = "nudity, nsfw, explicit, sexual content"


@dataclass(frozen=True)
class ServerSettings:
    guild_id: int
    enabled: bool = True
    channels: tuple[int, ...] = ()  # where /pose may be used; empty: everywhere
    daily_cap: int | None = None  # generations for the whole server per 24 hours
    user_cap: int | None = None  # replaces USER_DAILY_LIMIT in this server
    negative_prompt: str = ""
    nsfw_allowed: bool = False  # takes effect in age-restricted channels only
    blocked_words: tuple[str, ...] = ()
    private_results: bool = False  # cards and results shown to the requester alone


def blocked_word_in(texts: list[str], words: tuple[str, ...]) -> str | None:
    """The first blocked word found as a whole word in any of `texts`, compared as `folded`
    (case, compatibility forms and invisible characters do not hide a word)."""
    searched = [folded(text) for text in texts]
    for word in words:
        key = folded(word)
        if not key:  # an invisible word, blocked before words were cleaned, blocks nothing
            continue
        pattern = re.compile(rf"(?<!\w){re.escape(key)}(?!\w)")
        if any(pattern.search(text) for text in searched):
            return word
    return None


def negative_prompt_for(settings: ServerSettings, given: str, *, age_restricted: bool) -> str:
    """The user's negative prompt with the server's default and the safety words added.

    Parts already there are not added twice (a Reroll starts from a finished request's)."""
    parts = [given] if given else []
    extras = [settings.negative_prompt]
    if not (settings.nsfw_allowed and age_restricted):
        extras.append(SAFE_NEGATIVE_PROMPT)
    for extra in extras:
        if extra and extra not in ", ".join(parts):
            parts.append(extra)
    return ", ".join(parts)


def _settings(row: Row) -> ServerSettings:
    return ServerSettings(
        guild_id=row["guild_id"],
        enabled=bool(row["enabled"]),
        channels=tuple(json.loads(row["channels"])),
        daily_cap=row["daily_cap"],
        user_cap=row["user_cap"],
        negative_prompt=row["negative_prompt"],
        nsfw_allowed=bool(row["nsfw_allowed"]),
        blocked_words=tuple(json.loads(row["blocked_words"])),
        private_results=bool(row["private_results"]),
    )


class ServerSettingsStore:
    """Reads each server's settings once, then serves them from memory (only the bot's own
    /admin commands change them), so /pose can consult them before its deferral."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._cache: dict[int, ServerSettings] = {}

    async def get(self, guild_id: int) -> ServerSettings:
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        rows = await self.database.fetch(
            "SELECT * FROM server_settings WHERE guild_id = ?", guild_id
        )
        settings = _settings(rows[0]) if rows else ServerSettings(guild_id)
        self._cache[guild_id] = settings
        return settings

    async def save(self, settings: ServerSettings) -> None:
        await self.database.execute(
            "INSERT INTO server_settings (guild_id, enabled, channels, daily_cap, user_cap,"
            " negative_prompt, nsfw_allowed, blocked_words, private_results)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        self._cache[settings.guild_id] = settings
