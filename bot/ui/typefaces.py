"""The fonts the bot ships (bot/ui/fonts/) and which letters each one draws, read from the
font's own character map, so that every letter is drawn in a font that has it."""

from __future__ import annotations

import functools
import struct
from pathlib import Path

from PIL import ImageFont

FONTS = Path(__file__).parent / "fonts"
# Every Latin, Greek and Cyrillic letter: English, Spanish, Portuguese, French and German.
LATIN = FONTS / "DejaVuSans.ttf"
# Japanese kana and kanji (and Chinese and Korean): 3.4 MB, Apache-2.0. It has no Latin
# letters at all, hence one font per letter rather than one per text.
CJK = FONTS / "DroidSansFallback.ttf"
# In order of preference: a letter both have (a few symbols) is drawn like its Latin neighbours.
FACES = (LATIN, CJK)

# Character maps read: Windows Unicode (BMP, full) and Unicode (BMP, full).
_UNICODE_MAPS = {(3, 1), (3, 10), (0, 3), (0, 4), (0, 6)}


@functools.cache
def font(face: Path, size: int) -> ImageFont.FreeTypeFont:
    # Pillow's basic layout: left-to-right scripts need no shaping, and raqm refuses some
    # separators (U+2029) that a user's caption may hold.
    return ImageFont.truetype(str(face), size=size, layout_engine=ImageFont.Layout.BASIC)


@functools.cache
def letters(face: Path) -> frozenset[int]:
    """The code points `face` has a glyph for (its cmap's formats 4 and 12)."""
    data = face.read_bytes()
    (tables,) = struct.unpack_from(">H", data, 4)
    for index in range(tables):
        tag, _, offset, _ = struct.unpack_from(">4sIII", data, 12 + 16 * index)
        if tag == b"cmap":
            break
    else:
        return frozenset()
    found: set[int] = set()
    (count,) = struct.unpack_from(">H", data, offset + 2)
    for index in range(count):
        platform, encoding, start = struct.unpack_from(">HHI", data, offset + 4 + 8 * index)
        if (platform, encoding) in _UNICODE_MAPS:
            found |= _subtable(data, offset + start)
    return frozenset(found)


def _subtable(data: bytes, at: int) -> set[int]:
    (kind,) = struct.unpack_from(">H", data, at)
    found: set[int] = set()
    if kind == 4:
        (doubled,) = struct.unpack_from(">H", data, at + 6)
        segments = doubled // 2
        ends = struct.unpack_from(f">{segments}H", data, at + 14)
        starts = struct.unpack_from(f">{segments}H", data, at + 16 + doubled)
        deltas = struct.unpack_from(f">{segments}h", data, at + 16 + 2 * doubled)
        offsets_at = at + 16 + 3 * doubled
        offsets = struct.unpack_from(f">{segments}H", data, offsets_at)
        for segment in range(segments):
            first, last = starts[segment], ends[segment]
            for code in range(first, min(last, 0xFFFE) + 1):
                if offsets[segment] == 0:
                    glyph = (code + deltas[segment]) & 0xFFFF
                else:
                    where = offsets_at + 2 * segment + offsets[segment] + 2 * (code - first)
                    (glyph,) = struct.unpack_from(">H", data, where)
                    glyph = (glyph + deltas[segment]) & 0xFFFF if glyph else 0
                if glyph:  # glyph 0 is the empty box drawn for what the font lacks
                    found.add(code)
    elif kind == 12:
        (groups,) = struct.unpack_from(">I", data, at + 12)
        for group in range(groups):
            first, last, glyph = struct.unpack_from(">III", data, at + 16 + 12 * group)
            found.update(range(first + (glyph == 0), last + 1))
    return found


def face_of(letter: str) -> Path | None:
    """The first bundled font that draws `letter`; None if none does."""
    code = ord(letter)
    return next((face for face in FACES if code in letters(face)), None)
