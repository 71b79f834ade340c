"""Text from users, cleaned one way everywhere before it is checked, stored or sent on.

Prompts, negative prompts, character names and descriptions, and admins' words all pass through
`clean`; whatever decides that two texts are the same (names, blocked words) compares `folded`.
"""

from __future__ import annotations

import re
import unicodedata

# Control (NUL among them: PostgreSQL refuses it in text), format (zero-width space and joiners,
# word joiner, BOM, bidirectional overrides), lone surrogates, private use and unassigned.
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# What a name (a character's, a story's) may look like: letters and digits of any script,
# spaces, hyphens, underscores, apostrophes and periods, starting with a letter or digit (so
# "🐉🐉" is not a name).
_NAME = re.compile(r"[^\W_][\w .'-]*")


def clean(text: str | None) -> str:
    """`text` with what cannot be seen removed: invisible characters dropped, white space
    (newlines and tabs too) folded to single spaces, and no space at either end."""
    if not text:
        return ""
    kept = []
    for ch in unicodedata.normalize("NFC", text):
        if ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) not in _DROPPED:
            kept.append(ch)
    return " ".join("".join(kept).split())


def folded(text: str | None) -> str:
    """What two texts share when they are the same words: `clean`, then compatibility forms
    ("Ａria", "ﬁ") and case folded away (NFKC casefold)."""
    once = unicodedata.normalize("NFKC", clean(text)).casefold()
    # Case folding can undo the normal form (and NFKC can make new spaces): do both again.
    return " ".join(unicodedata.normalize("NFKC", once).split())


def is_name_shaped(text: str) -> bool:
    """Whether a cleaned text has the shape of a name (see `_NAME`)."""
    return _NAME.fullmatch(text) is not None
