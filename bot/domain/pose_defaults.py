"""A user's own defaults for /pose, and the one rule that fills in what a request leaves out.

The rule, for every way to ask for a pose (/pose, "Pose this character", ✏️ New pose): an
option the user gave wins; else the user's own default (/settings); else the base, which is the
bot's built-in default, or for ✏️ New pose the result it was pressed on. 🎲 Reroll leaves
nothing out (it is the result's request again with a new seed), so no default applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from bot.domain.characters import Character
from bot.domain.pose_request import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    PoseOptions,
    check_options,
)

BUILT_IN_SIZE = "square"
T = TypeVar("T")


@dataclass(frozen=True)
class PoseDefaults:
    """What a user chose in /settings; None means not chosen (the bot's own default then)."""

    size: str | None = None
    steps: int | None = None
    guidance: float | None = None
    negative_prompt: str | None = None
    # A saved character posed when /pose names none; it may have been deleted since.
    character_id: int | None = None

    @property
    def empty(self) -> bool:
        return self == PoseDefaults()


NO_DEFAULTS = PoseDefaults()


def _first(*values: T | None, last: T) -> T:
    return next((value for value in values if value is not None), last)


def resolve_options(
    defaults: PoseDefaults,
    *,
    prompt: str,
    negative_prompt: str | None = None,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    size: str | None = None,
    expression: str | None = None,
    camera: str | None = None,
    base: PoseOptions | None = None,
) -> PoseOptions:
    """The options of a request: given > the user's default > `base` (a result's own, for
    New pose) > built-in. The seed is never a user default: given, else the base's, else
    random. Raises InvalidRequest for a value out of range, whoever chose it."""
    return check_options(
        prompt=prompt,
        negative_prompt=_first(
            negative_prompt,
            defaults.negative_prompt,
            base.negative_prompt if base else None,
            last="",
        ),
        seed=_first(seed, base.seed if base else None, last=None),
        steps=_first(steps, defaults.steps, base.steps if base else None, last=DEFAULT_STEPS),
        guidance=_first(
            guidance,
            defaults.guidance,
            base.guidance if base else None,
            last=DEFAULT_GUIDANCE,
        ),
        size=_first(size, defaults.size, base.size if base else None, last=BUILT_IN_SIZE),
        # Presets have no user default: given, else the base's (a New pose keeps the look).
        expression=_first(expression, base.expression if base else None, last=None),
        camera=_first(camera, base.camera if base else None, last=None),
    )


def check_defaults(defaults: PoseDefaults) -> PoseDefaults:
    """The defaults as they will be stored: checked as a request's options are, the negative
    prompt cleaned (empty: not set). Raises InvalidRequest, written for the user."""
    checked = check_options(
        prompt="-",
        negative_prompt=defaults.negative_prompt,
        seed=0,
        steps=defaults.steps if defaults.steps is not None else DEFAULT_STEPS,
        guidance=defaults.guidance if defaults.guidance is not None else DEFAULT_GUIDANCE,
        size=defaults.size if defaults.size is not None else BUILT_IN_SIZE,
    )
    return PoseDefaults(
        size=defaults.size,
        steps=defaults.steps,
        guidance=checked.guidance if defaults.guidance is not None else None,
        negative_prompt=checked.negative_prompt or None,
        character_id=defaults.character_id,
    )


def may_pose(character: Character, user_id: int, guild_id: int | None) -> bool:
    """Whether this user may pose this character here: their own, or one shared here (a
    default character may have been unshared since it was chosen, or be another server's)."""
    if character.owner_id == user_id:
        return True
    return character.shared and guild_id is not None and character.guild_id == guild_id
