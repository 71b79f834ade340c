"""A server's rules, as its admins set them: where /pose may be used, its caps, its blocked
words and the negative prompt every request gets. Pure rules: `bot/storage/server_store.py`
keeps them in the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.text import folded

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
