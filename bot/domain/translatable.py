"""Texts written below the Discord side for users to read, marked so that the Discord side
translates them into the reader's language where they are shown (bot/ui/i18n.py)."""

from __future__ import annotations


class Marked(str):
    """A text marked with `mark`: as a value of another text, it is translated too."""

    __slots__ = ()


def mark(message: str) -> str:
    """A text to translate later, where it is shown: the same English text."""
    return Marked(message)
