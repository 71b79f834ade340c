"""User text is cleaned one way everywhere: what cannot be seen is not kept, nor compared."""

from __future__ import annotations

import pytest

from bot.domain.text import clean, folded

INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e"  # zero-width, joiners, BOM, bidi…


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        (None, ""),
        (INVISIBLE, ""),
        ("\x00\x07\n\t ", ""),
        ("red\x00 cloak", "red cloak"),
        (f"sil{INVISIBLE}ver\nhair", "silver hair"),
        ("  a\u00a0\u3000b  ", "a b"),  # every kind of space folds to one
        ("Zoe\u0308", "Zoë"),  # composed (NFC)
        ("Ａria ﬁ", "Ａria ﬁ"),  # compatibility forms are kept as typed…
        ("\ue000private", "private"),
    ],
)
def test_clean(raw: str | None, cleaned: str) -> None:
    assert clean(raw) == cleaned


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Ａria", "aria"),  # …and folded away where texts are compared
        ("ARIA", "aria"),
        ("A\u200bria", "aria"),
        ("Straße", "STRASSE"),
        ("ﬁre", "fire"),
        ("Sir   Lancelot", "sir lancelot"),
    ],
)
def test_folded_texts_are_the_same(one: str, other: str) -> None:
    assert folded(one) == folded(other)
