"""A character's sheet: the panels each kind has, and the English prompt each panel sends.

Every panel of a sheet uses the saved character's look first, then the panel's own words, with
one seed for all of them, so that the panels show the same character in the same outfit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.domain.translatable import mark

# What every panel adds, so that the panels line up on the sheet.
FRAMING = "full body, plain background"


class Kind(enum.Enum):
    TURNAROUND = "turnaround"
    EXPRESSIONS = "expressions"
    ACTIONS = "actions"


@dataclass(frozen=True)
class View:
    """One panel: its label on the sheet (marked for translation) and its English words."""

    label: str
    words: str


KIND_NAMES = {
    Kind.TURNAROUND: mark("turnaround"),
    Kind.EXPRESSIONS: mark("expressions"),
    Kind.ACTIONS: mark("actions"),
}

VIEWS: dict[Kind, tuple[View, ...]] = {
    Kind.TURNAROUND: (
        View(mark("front"), "front view, facing the viewer"),
        View(mark("three-quarter"), "three-quarter view"),
        View(mark("side"), "side view, profile"),
        View(mark("back"), "back view, seen from behind"),
    ),
    Kind.EXPRESSIONS: (
        View(mark("happy"), "happy expression, smiling"),
        View(mark("sad"), "sad expression"),
        View(mark("angry"), "angry expression"),
        View(mark("surprised"), "surprised expression"),
        View(mark("scared"), "scared expression"),
        View(mark("thinking"), "thinking, thoughtful expression"),
    ),
    Kind.ACTIONS: (
        View(mark("walking"), "walking"),
        View(mark("running"), "running"),
        View(mark("sitting"), "sitting"),
        View(mark("jumping"), "jumping"),
        View(mark("pointing"), "pointing"),
        View(mark("waving"), "waving"),
    ),
}


def panel_count(kind: Kind) -> int:
    return len(VIEWS[kind])


def panel_prompt(description: str, kind: Kind, position: int) -> str:
    """The prompt of one panel (from 0): the character's description first."""
    view = VIEWS[kind][position]
    return ", ".join(part for part in (description.strip(), view.words, FRAMING) if part)


def panel_prompts(description: str, kind: Kind) -> list[str]:
    return [panel_prompt(description, kind, position) for position in range(panel_count(kind))]


def panel_interaction_id(sheet_id: int, position: int) -> int:
    """A panel job's stand-in for an interaction id (one job per id): negative, so it is never
    a Discord snowflake, and unique per sheet and position."""
    return -(sheet_id * 64 + position + 1)
