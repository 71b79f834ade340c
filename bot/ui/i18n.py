"""The user's language: every text a user reads goes through `tr`, with the locale of whom it
is for (the interaction's locale for a private answer, the server's for a public one).

`message` is the English text, with `{name}` placeholders filled from `values`; it is also the
key of its translations. Texts defined below the UI (a rule's refusal, a domain error) are
marked with `mark` where they are written, and translated where they are shown.
"""

from __future__ import annotations

import discord


def mark(message: str) -> str:
    """A text to translate later, where it is shown: returned unchanged."""
    return message


def tr(locale: discord.Locale | str | None, message: str, /, **values: object) -> str:
    """`message` in the language of `locale`, English when it has no translation."""
    return message.format(**values) if values else message
