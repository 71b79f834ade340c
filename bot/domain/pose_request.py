"""A pose request: the user's options, checked again after Discord's checks, and its API body."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from bot.domain.errors import UserError
from bot.domain.images import CheckedImage
from bot.domain.presets import CAMERAS, EXPRESSIONS, with_presets
from bot.domain.text import clean
from bot.domain.translatable import mark

MAX_PROMPT_LENGTH = 1000
MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 1, 70, 10
MIN_GUIDANCE, MAX_GUIDANCE, DEFAULT_GUIDANCE = 1.0, 15.0, 3.0
# Discord carries integers up to 2**53; the API's own default seed is already past 2**32.
MAX_SEED = 2**53 - 1
SIZES: dict[str, tuple[int, int]] = {
    "square": (1024, 1024),
    "portrait": (832, 1216),
    "landscape": (1216, 832),
}


class InvalidRequest(UserError):
    """An option that cannot be used; the message is written for the user."""


@dataclass(frozen=True)
class ImageInput:
    """A reference image as the API may receive it: cleaned bytes, or the URL it came from
    (empty when it came from the character library or an earlier result)."""

    image: CheckedImage
    url: str

    def for_api(self, image_input: str) -> str:
        # A saved character or an earlier result has no URL of its own: it goes as base64.
        return self.url if image_input == "url" and self.url else self.image.as_base64()


@dataclass(frozen=True)
class PoseOptions:
    """The text and number options of a request, checked."""

    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    guidance: float
    size: str
    # Presets (bot/domain/presets.py): None is none chosen.
    expression: str | None = None
    camera: str | None = None

    @property
    def dimensions(self) -> tuple[int, int]:
        return SIZES[self.size]

    @property
    def api_prompt(self) -> str:
        """The prompt with the presets' English fragments, as the API receives it."""
        return with_presets(self.prompt, self.expression, self.camera)


@dataclass(frozen=True)
class PoseRequest:
    options: PoseOptions
    character: ImageInput
    pose: ImageInput | None = None

    def api_body(self, image_input: str) -> dict[str, Any]:
        """The JSON body of the documented call; `image_input` is "base64" or "url"."""
        options = self.options
        width, height = options.dimensions
        body: dict[str, Any] = {
            "ip_image": self.character.for_api(image_input),
            "prompt": options.api_prompt,
            "negative_prompt": options.negative_prompt,
            "seed": options.seed,
            "steps": options.steps,
            "guidance_scale": options.guidance,
            "width": width,
            "height": height,
        }
        if self.pose is not None:
            body["input_image"] = self.pose.for_api(image_input)
        return body


def random_seed() -> int:
    """A new seed for a request that names none, or a Reroll."""
    return random.randint(0, 2**32 - 1)


def check_options(
    *,
    prompt: str,
    negative_prompt: str | None = None,
    seed: int | None = None,
    steps: int = DEFAULT_STEPS,
    guidance: float = DEFAULT_GUIDANCE,
    size: str = "square",
    expression: str | None = None,
    camera: str | None = None,
) -> PoseOptions:
    """Check every option again (Discord's own checks can be bypassed by a modified client)."""
    cleaned = clean(prompt)
    if not cleaned:
        raise InvalidRequest(mark("The prompt is empty: describe the character and the pose."))
    if len(cleaned) > MAX_PROMPT_LENGTH:
        raise InvalidRequest(
            mark("The prompt is too long: at most {limit} characters."), limit=MAX_PROMPT_LENGTH
        )
    negative = clean(negative_prompt)
    if len(negative) > MAX_PROMPT_LENGTH:
        raise InvalidRequest(
            mark("The negative prompt is too long: at most {limit} characters."),
            limit=MAX_PROMPT_LENGTH,
        )
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise InvalidRequest(
            mark("Steps must be from {least} to {most}."), least=MIN_STEPS, most=MAX_STEPS
        )
    if not MIN_GUIDANCE <= guidance <= MAX_GUIDANCE:
        raise InvalidRequest(
            mark("Guidance must be from {least} to {most}."),
            least=f"{MIN_GUIDANCE:g}",
            most=f"{MAX_GUIDANCE:g}",
        )
    if size not in SIZES:
        raise InvalidRequest(mark("Size must be one of: {sizes}."), sizes=", ".join(SIZES))
    if expression is not None and expression not in EXPRESSIONS:
        raise InvalidRequest(
            mark("Expression must be one of: {expressions}."), expressions=", ".join(EXPRESSIONS)
        )
    if camera is not None and camera not in CAMERAS:
        raise InvalidRequest(mark("Camera must be one of: {cameras}."), cameras=", ".join(CAMERAS))
    if seed is None:
        seed = random_seed()
    elif not 0 <= seed <= MAX_SEED:
        raise InvalidRequest(
            mark("The seed must be a whole number from 0 to {most}."), most=MAX_SEED
        )
    return PoseOptions(
        prompt=cleaned,
        negative_prompt=negative,
        seed=seed,
        steps=steps,
        guidance=float(guidance),
        size=size,
        expression=expression,
        camera=camera,
    )
