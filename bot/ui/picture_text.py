"""Text drawn into a picture (captions, labels) in every script the bot speaks: each letter in
a bundled font that has it, wrapped to its box, shrunk until it fits, and never cut silently."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import ImageDraw

from bot.ui.typefaces import CJK, LATIN, face_of, font

ELLIPSIS = "…"
# Japanese is written without spaces: a line may break between any two of its letters, but
# not before a closing mark or small kana, nor after an opening mark (kinsoku shori).
NO_LINE_START = frozenset(
    "、。，．・：；？！ー…‥」』）］｝〉》】〕〙〗ゝゞヽヾぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ"
    "%),.:;?!]}”’»"
)
NO_LINE_END = frozenset("「『（［｛〈《【〔〘〖([{“‘«")
# Between lines, as a share of the font's size.
LEADING = 0.15

Colour = tuple[int, int, int]
Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive)


@dataclass(frozen=True)
class Fitted:
    """A text laid out for a box: its lines at `size` px. `complete` is False when even the
    smallest size could not hold it all: the last line then ends with an ellipsis, and the
    caller should say so."""

    lines: tuple[str, ...]
    size: int
    complete: bool
    width: int
    height: int
    missing: frozenset[str]  # letters no bundled font draws (shown as empty boxes)


def paragraphs(text: str) -> list[str]:
    """The text's lines, each with its spaces made single and its invisible characters
    (controls, direction marks, zero-width joiners) dropped: nothing in them can be drawn.
    Accents are composed with their letters (NFC), as the fonts draw them."""
    found = []
    for line in unicodedata.normalize("NFC", text).splitlines():
        visible = "".join(c for c in line if unicodedata.category(c)[0] != "C")
        words = " ".join(visible.split())
        if words:
            found.append(words)
    return found


def fit(text: str, width: int, height: int, *, largest: int, smallest: int) -> Fitted:
    """`text` wrapped to `width` at the largest size from `largest` down to `smallest` at which
    its lines fit in `height`; at `smallest`, the lines that fit, the last one ending with an
    ellipsis (`complete` False)."""
    parts = paragraphs(text)
    missing = frozenset(c for part in parts for c in part if c != " " and face_of(c) is None)
    if not parts:
        return Fitted((), largest, True, 0, 0, missing)
    # The largest size that fits, by bisection: a smaller size never needs more room.
    low, high, best = smallest, max(largest, smallest), None
    while low <= high:
        size = (low + high) // 2
        lines = _wrapped(parts, width, size)
        if _fits(lines, width, height, size):
            best, low = (size, lines), size + 1
        else:
            high = size - 1
    if best is not None:
        size, lines = best
        return _fitted(lines, size, True, missing)
    lines = _wrapped(parts, width, smallest)
    kept = lines[: max(0, height // line_height(smallest))]
    if kept:
        kept[-1] = _with_ellipsis(kept[-1], width, smallest)
    return _fitted(kept, smallest, False, missing)


def _fitted(lines: list[str], size: int, complete: bool, missing: frozenset[str]) -> Fitted:
    widest = max((round(line_width(line, size)) for line in lines), default=0)
    return Fitted(tuple(lines), size, complete, widest, len(lines) * line_height(size), missing)


def _fits(lines: list[str], width: int, height: int, size: int) -> bool:
    return len(lines) * line_height(size) <= height and all(
        line_width(line, size) <= width for line in lines
    )


def _with_ellipsis(line: str, width: int, size: int) -> str:
    while line and line_width(line.rstrip() + ELLIPSIS, size) > width:
        line = line[:-1]
    return line.rstrip() + ELLIPSIS


@functools.cache
def metrics(size: int) -> tuple[int, int]:
    """Ascent and descent at `size` px: the larger of the fonts', so that a line mixing them
    keeps its place."""
    faces = [font(face, size).getmetrics() for face in (LATIN, CJK)]
    return max(a for a, _ in faces), max(d for _, d in faces)


def line_height(size: int) -> int:
    ascent, descent = metrics(size)
    return ascent + descent + round(size * LEADING)


def runs(line: str) -> Iterator[tuple[Path, str]]:
    """The line in pieces drawn with one font each; a space goes with the letters before it."""
    face, piece = None, ""
    for letter in line:
        wanted = (face_of(letter) or LATIN) if letter != " " else (face or LATIN)
        if piece and wanted != face:
            yield face or LATIN, piece
            piece = ""
        face = wanted
        piece += letter
    if piece:
        yield face or LATIN, piece


@functools.lru_cache(maxsize=4096)
def line_width(line: str, size: int) -> float:
    return sum(font(face, size).getlength(piece) for face, piece in runs(line))


def _wide(letter: str) -> bool:
    return unicodedata.east_asian_width(letter) in ("W", "F")


def _tokens(paragraph: str) -> list[tuple[str, bool]]:
    """Pieces a line may break between, each with whether a space comes before it: words,
    and each wide (CJK) letter alone, with the marks that may not start or end a line kept
    with their neighbour."""
    pieces: list[tuple[str, bool]] = []
    for word in paragraph.split(" "):
        spaced, piece = True, ""
        for letter in word:
            if _wide(letter) and letter not in NO_LINE_START and letter not in NO_LINE_END:
                if piece:
                    pieces.append((piece, spaced))
                    spaced, piece = False, ""
                pieces.append((letter, spaced))
                spaced = False
            else:
                piece += letter
        if piece:
            pieces.append((piece, spaced))
    tokens: list[tuple[str, bool]] = []
    for piece, spaced in pieces:
        if (
            tokens
            and not spaced
            and (piece[0] in NO_LINE_START or tokens[-1][0][-1] in NO_LINE_END)
        ):
            tokens[-1] = (tokens[-1][0] + piece, tokens[-1][1])
        else:
            tokens.append((piece, spaced))
    return tokens


def _wrapped(parts: list[str], width: int, size: int) -> list[str]:
    """Greedy lines: as many pieces as fit; a piece wider than a line alone (a long word, a
    long run of marks) is broken between letters."""
    lines: list[str] = []
    for paragraph in parts:
        current = ""
        for piece, spaced in _tokens(paragraph):
            candidate = f"{current} {piece}" if spaced and current else current + piece
            if line_width(candidate, size) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            if line_width(piece, size) <= width:
                current = piece
                continue
            for letter in piece:
                if current and line_width(current + letter, size) > width:
                    lines.append(current)
                    current = ""
                current += letter
        if current:
            lines.append(current)
    return lines


def draw_fitted(
    draw: ImageDraw.ImageDraw,
    fitted: Fitted,
    box: Box,
    *,
    fill: Colour,
    align: Literal["left", "center"] = "center",
    valign: Literal["top", "middle"] = "middle",
) -> None:
    """Draw laid-out lines in `box`, centred (or from the left), in the middle (or from the top)."""
    left, top, right, bottom = box
    ascent, _ = metrics(fitted.size)
    y = top if valign == "top" else top + (bottom - top - fitted.height) // 2
    for line in fitted.lines:
        x = left if align == "left" else left + (right - left - line_width(line, fitted.size)) / 2
        _draw_runs(draw, x, y + ascent, line, fitted.size, fill)
        y += line_height(fitted.size)


def _draw_runs(
    draw: ImageDraw.ImageDraw, x: float, baseline: float, line: str, size: int, fill: Colour
) -> None:
    for face, piece in runs(line):
        typeface = font(face, size)
        draw.text((x, baseline), piece, fill=fill, font=typeface, anchor="ls")
        x += typeface.getlength(piece)


def draw_in_box(
    draw: ImageDraw.ImageDraw,
    text: str,
    box: Box,
    *,
    fill: Colour,
    largest: int,
    smallest: int,
    align: Literal["left", "center"] = "center",
    valign: Literal["top", "middle"] = "middle",
) -> Fitted:
    """Fit `text` to `box` and draw it; the caller learns from the answer whether it was cut."""
    left, top, right, bottom = box
    fitted = fit(text, right - left, bottom - top, largest=largest, smallest=smallest)
    draw_fitted(draw, fitted, box, fill=fill, align=align, valign=valign)
    return fitted


def draw_line(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    *,
    size: int,
    fill: Colour,
    anchor: str = "la",
) -> None:
    """One line of text, unwrapped, like `ImageDraw.text` with an anchor of l/m/r then
    a (top)/m (middle)/s (baseline)/d (bottom), in the fonts that draw its letters."""
    line = " ".join(paragraphs(text))
    ascent, descent = metrics(size)
    x, y = xy
    x -= {"l": 0.0, "m": 0.5, "r": 1.0}[anchor[0]] * line_width(line, size)
    baseline = {"a": y + ascent, "m": y + (ascent - descent) / 2, "s": y, "d": y - descent}
    _draw_runs(draw, x, baseline[anchor[1]], line, size, fill)
