"""The presets add fixed English words to the prompt the API receives, and only there."""

from __future__ import annotations

import pytest

from bot.domain.images import CheckedImage
from bot.domain.pose_request import ImageInput, InvalidRequest, PoseRequest, check_options
from bot.domain.presets import CAMERAS, EXPRESSIONS, with_presets
from bot.ui.names import CAMERA_NAMES, EXPRESSION_NAMES
from tests.user_actions import png


def test_the_fragments_follow_the_users_words_expression_first() -> None:
    assert with_presets("a knight", None, None) == "a knight"
    assert with_presets("a knight", "happy", None) == "a knight, happy expression, bright smile"
    assert with_presets("a knight", None, "close-up") == "a knight, close-up shot of the face"
    assert (
        with_presets("a knight", "sleepy", "from-behind")
        == "a knight, sleepy expression, half-closed eyes, seen from behind, back to the viewer"
    )


def test_every_preset_is_offered_by_name_and_its_fragment_is_english() -> None:
    assert list(EXPRESSION_NAMES) == list(EXPRESSIONS)
    assert list(CAMERA_NAMES) == list(CAMERAS)
    for fragment in (*EXPRESSIONS.values(), *CAMERAS.values()):
        assert fragment.isascii() and fragment == fragment.strip(), fragment


def test_the_api_receives_the_fragments_while_the_result_keeps_the_users_words() -> None:
    options = check_options(prompt="  a knight ", seed=1, expression="angry", camera="wide")
    assert options.prompt == "a knight"
    character = ImageInput(CheckedImage(png(), "png", 300, 400), "https://cdn.example/a.png")
    body = PoseRequest(options, character).api_body("url")
    assert body["prompt"] == (
        "a knight, angry expression, furrowed brows, wide shot, the whole scene in view"
    )


@pytest.mark.parametrize(
    ("given", "refusal"),
    [({"expression": "grumpy"}, "Expression must be"), ({"camera": "drone"}, "Camera must be")],
)
def test_an_unknown_preset_is_refused(given: dict[str, str], refusal: str) -> None:
    with pytest.raises(InvalidRequest, match=refusal):
        check_options(prompt="a knight", **given)
