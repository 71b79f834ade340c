"""The expression and camera presets of a pose: each adds one fixed English fragment to the
prompt the API receives, whatever language the user speaks (the API's prompts are English)."""

from __future__ import annotations

# Keys are what Discord sends as the choice's value and what a job stores; never rename one.
EXPRESSIONS: dict[str, str] = {
    "happy": "happy expression, bright smile",
    "sad": "sad expression, downcast eyes",
    "angry": "angry expression, furrowed brows",
    "surprised": "surprised expression, wide eyes, open mouth",
    "scared": "scared expression, fearful wide eyes",
    "thinking": "thoughtful expression, pensive look",
    "determined": "determined expression, focused eyes, set jaw",
    "sleepy": "sleepy expression, half-closed eyes",
}
CAMERAS: dict[str, str] = {
    "close-up": "close-up shot of the face",
    "portrait": "portrait shot, head and shoulders",
    "full-body": "full body shot, head to toe",
    "low-angle": "low angle shot, seen from below",
    "high-angle": "high angle shot, seen from above",
    "from-behind": "seen from behind, back to the viewer",
    "three-quarter": "three-quarter view",
    "wide": "wide shot, the whole scene in view",
}


def with_presets(prompt: str, expression: str | None, camera: str | None) -> str:
    """The prompt as the API receives it: the user's words first (they say who and what), then
    the chosen expression's fragment, then the camera's."""
    fragments = [prompt]
    if expression is not None:
        fragments.append(EXPRESSIONS[expression])
    if camera is not None:
        fragments.append(CAMERAS[camera])
    return ", ".join(fragments)
