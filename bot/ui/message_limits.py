"""Discord's size limit on a message's text, and the one way the bot shows a list that may not
fit in it: a count and the first items, with the whole list attached as a text file."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import NamedTuple

import discord

from bot.ui.i18n import mark, tr

log = logging.getLogger(__name__)

# Characters in a message's content; Discord refuses the whole message beyond it.
MAX_CONTENT = 2000
# Characters a list takes in a reply unless its caller says otherwise: a few lines' worth,
# so that two lists and the rest of a reply fit in one message.
LIST_BUDGET = 500


class Listing(NamedTuple):
    text: str
    file: discord.File | None  # the whole list, when `text` names only the first items


# What the lists are of: marked, so that each is named in the reader's language.
CHANNELS = mark("channels")
WORDS = mark("words")
SERVERS = mark("servers")


def show_list(
    items: Sequence[str],
    *,
    noun: str,
    locale: discord.Locale | str | None = None,
    budget: int = LIST_BUDGET,
    separator: str = ", ",
    filename: str | None = None,
    lines: Sequence[str] | None = None,
) -> Listing:
    """`items` joined by `separator` if that takes at most `budget` characters. Otherwise their
    count and as many of the first as fit ("200 words; first 30: a, b"), and, given a
    `filename`, the whole list as a text file of `lines` (the items unless given), one a line.
    """
    whole = separator.join(items)
    if len(whole) <= budget:
        return Listing(whole, None)
    lead = "\n" if separator == "\n" else " "
    note = "" if filename is None else lead + tr(locale, "(all in {filename})", filename=filename)
    text = tr(locale, "{count} {noun}", count=len(items), noun=noun)
    for count in range(1, len(items)):
        shown = separator.join(items[:count])
        head = tr(
            locale, "{count} {noun}; first {first}:", count=len(items), noun=noun, first=count
        )
        candidate = f"{head}{lead}{shown}"
        if len(candidate) + len(note) > budget:
            break
        text = candidate
    if filename is None:
        return Listing(text, None)
    data = "".join(f"{line}\n" for line in (items if lines is None else lines)).encode()
    return Listing(text + note, discord.File(io.BytesIO(data), filename=filename))


def fit_content(text: str) -> str:
    """`text` cut to Discord's limit, since a shortened reply is better than none.

    Lists are shown with `show_list` long before this: a cut here means a reply was built
    too long, so it is logged."""
    if len(text) <= MAX_CONTENT:
        return text
    log.warning("cut a reply of %d characters to Discord's %d", len(text), MAX_CONTENT)
    return text[: MAX_CONTENT - 1] + "…"
