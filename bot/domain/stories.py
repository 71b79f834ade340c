"""A story and its panels, and the rules of their names and captions. Pure rules:
`bot/storage/story_store.py` keeps stories in the database."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import UserError
from bot.domain.text import clean, is_name_shaped
from bot.domain.translatable import mark

MAX_NAME_LENGTH = 32
MAX_CAPTION_LENGTH = 200


class StoryError(UserError):
    """A request about stories that cannot be done; the message is written for the user."""


@dataclass(frozen=True)
class Story:
    id: int
    owner_id: int
    guild_id: int | None
    name: str
    shared: bool
    created_at: float
    panels: int = 0


@dataclass(frozen=True)
class Panel:
    id: int
    story_id: int
    position: int  # 0 is the first
    job_id: int | None
    image_sha256: str
    caption: str
    added_by: int


def check_name(raw: str) -> str:
    """A valid story name from what the user typed, or StoryError saying why not."""
    name = clean(raw)
    if not name:
        raise StoryError(mark("A story needs a name."))
    if len(name) > MAX_NAME_LENGTH:
        raise StoryError(
            mark("Story names are at most {limit} characters long."), limit=MAX_NAME_LENGTH
        )
    if not is_name_shaped(name):
        raise StoryError(
            mark(
                "Story names use letters, digits, spaces, hyphens, underscores, "
                "apostrophes and periods, and start with a letter or digit."
            )
        )
    return name


def clean_caption(raw: str | None) -> str:
    """A caption as kept: cleaned, at most MAX_CAPTION_LENGTH characters."""
    return clean(raw)[:MAX_CAPTION_LENGTH].rstrip()


def may_add(story: Story, user_id: int, guild_id: int | None) -> bool:
    """Whether this user may add panels to the story here: its owner, or anyone in the
    server of a shared story."""
    return story.owner_id == user_id or (story.shared and story.guild_id == guild_id)


def may_arrange(story: Story, panel: Panel | None, user_id: int, manages_server: bool) -> bool:
    """Whether this user may move, caption or remove a panel: the story's owner, whoever added
    the panel, or in a shared story someone who manages the server."""
    if story.owner_id == user_id or (panel is not None and panel.added_by == user_id):
        return True
    return story.shared and manages_server


def may_change(story: Story, user_id: int, manages_server: bool) -> bool:
    """Whether this user may rename or delete the story: its owner, or for a shared one
    someone who manages the server."""
    return story.owner_id == user_id or (story.shared and manages_server)
