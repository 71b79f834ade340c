"""A saved character and the rules of its name: per owner, 1–32 characters, unique without
regard to case or compatibility forms ("Ａria" is "Aria"). Pure rules:
`bot/storage/character_store.py` keeps characters in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.errors import UserError
from bot.domain.images import CheckedImage
from bot.domain.server_rules import blocked_word_in
from bot.domain.text import clean, folded, is_name_shaped
from bot.domain.translatable import mark

MAX_NAME_LENGTH = 32
MAX_DESCRIPTION_LENGTH = 300


class CharacterError(UserError):
    """A request about characters that cannot be done; the message is written for the user."""


@dataclass(frozen=True)
class Character:
    id: int
    owner_id: int
    guild_id: int | None
    name: str
    description: str
    shared: bool
    created_at: float
    format: str = ""
    width: int = 0
    height: int = 0
    data: bytes = field(default=b"", repr=False)  # empty in listings: only `get` loads it

    @property
    def image(self) -> CheckedImage:
        return CheckedImage(self.data, self.format, self.width, self.height)


def check_name(raw: str) -> str:
    """A valid character name from what the user typed, or CharacterError saying why not."""
    name = clean(raw)
    if not name:
        raise CharacterError(mark("A character needs a name."))
    if len(name) > MAX_NAME_LENGTH:
        raise CharacterError(
            mark("Character names are at most {limit} characters long."), limit=MAX_NAME_LENGTH
        )
    if not is_name_shaped(name):
        raise CharacterError(
            mark(
                "Character names use letters, digits, spaces, hyphens, underscores, "
                "apostrophes and periods, and start with a letter or digit."
            )
        )
    return name


def name_key(name: str) -> str:
    """What two names must share to be the same name: case, spacing, invisible characters and
    compatibility forms ("Ａria" is "Aria") do not count."""
    return folded(name)


def clean_description(raw: str) -> str:
    """The look as kept: cleaned, at most MAX_DESCRIPTION_LENGTH characters."""
    return clean(raw)[:MAX_DESCRIPTION_LENGTH].rstrip()


def check_words(blocked_words: tuple[str, ...], *texts: str) -> None:
    """CharacterError when a character's name or look holds a word its server blocks: the one
    check of every way to name or describe one (/character save and rename, the 💾 form)."""
    word = blocked_word_in(list(texts), blocked_words)
    if word is not None:
        raise CharacterError(mark("This server does not allow the word “{word}”."), word=word)
