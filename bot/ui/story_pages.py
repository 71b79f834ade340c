"""A story's pages and a character's sheet, drawn with Pillow: panels in order, each caption
under its panel and outside the art, the title on the first page, a number on every page.
Panels are decoded one at a time, as the page being drawn needs them, and let go at once."""

from __future__ import annotations

import enum
import io
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from bot.domain.images import DECODED_BYTES_PER_PIXEL, NotAnImage, generated_cost
from bot.ui.picture_text import Box, draw_in_box, draw_line

log = logging.getLogger(__name__)
PAPER = (250, 249, 246)
INK = (28, 28, 30)
MUTED = (120, 120, 126)
FRAME = (200, 200, 204)
MISSING = (226, 226, 230)
MARGIN = 40
GUTTER = 28
CAPTION_GAP = 8  # between a panel's art and its caption
TITLE_BAND = 96  # the first page's title
FOOTER = 44  # the page number
LABEL_BAND = 56  # a sheet's label under each panel
SMALLEST_TEXT = 11  # px: smaller is not read, so a longer text is cut (and the caller told)
# In a list of what had to be shortened, the title; panels are numbered from 1.
TITLE = 0


class Layout(enum.Enum):
    """How panels are laid out on a page; the values are what `/story export` offers."""

    GRID_2X2 = "grid 2x2"
    GRID_3X2 = "grid 3x2"
    STRIP = "strip"
    ONE_PER_PAGE = "one per page"


@dataclass(frozen=True)
class Grid:
    columns: int
    rows: int
    art: int  # px: each panel's art is fitted into a square this wide

    @property
    def per_page(self) -> int:
        return self.columns * self.rows


GRIDS = {
    Layout.GRID_2X2: Grid(2, 2, 560),
    Layout.GRID_3X2: Grid(3, 2, 420),
    Layout.STRIP: Grid(4, 1, 360),  # a row of four, like a newspaper strip
    Layout.ONE_PER_PAGE: Grid(1, 1, 1024),  # the API's own size: nothing scaled away
}

Source = bytes | Image.Image


@dataclass(frozen=True)
class Panel:
    """A panel's image (encoded, or already decoded; None if it is missing) and its caption."""

    image: Source | None
    caption: str = ""


@dataclass(frozen=True)
class Page:
    image: Image.Image
    number: int  # from 1
    cut: tuple[int, ...]  # panels (from 1) whose caption had to be shortened; TITLE, the title


@dataclass(frozen=True)
class Geometry:
    """Where everything goes on a story's pages; every page but the first has no title band."""

    grid: Grid
    caption: int  # px under each panel, 0 when no panel has a caption

    @property
    def width(self) -> int:
        return 2 * MARGIN + self.grid.columns * self.grid.art + (self.grid.columns - 1) * GUTTER

    def height(self, first: bool) -> int:
        cell = self.grid.art + (CAPTION_GAP + self.caption if self.caption else 0)
        rows = self.grid.rows * cell + (self.grid.rows - 1) * GUTTER
        return MARGIN + (TITLE_BAND if first else 0) + rows + FOOTER + MARGIN // 2

    def art_box(self, slot: int, first: bool) -> Box:
        row, column = divmod(slot, self.grid.columns)
        cell = self.grid.art + (CAPTION_GAP + self.caption if self.caption else 0)
        left = MARGIN + column * (self.grid.art + GUTTER)
        top = MARGIN + (TITLE_BAND if first else 0) + row * (cell + GUTTER)
        return left, top, left + self.grid.art, top + self.grid.art

    def caption_box(self, slot: int, first: bool) -> Box:
        left, _, right, bottom = self.art_box(slot, first)
        return left, bottom + CAPTION_GAP, right, bottom + CAPTION_GAP + self.caption


def geometry(layout: Layout, panels: Sequence[Panel]) -> Geometry:
    grid = GRIDS[layout]
    captioned = any(panel.caption.strip() for panel in panels)
    return Geometry(grid, min(180, max(64, grid.art // 4)) if captioned else 0)


def page_count(layout: Layout, panels: int) -> int:
    return max(1, math.ceil(panels / GRIDS[layout].per_page))


def panels_on_page(layout: Layout, panels: int, index: int) -> range:
    """The panels (numbered from 1) on page `index` (from 0)."""
    per_page = GRIDS[layout].per_page
    return range(index * per_page + 1, min(panels, (index + 1) * per_page) + 1)


def caption_sizes(grid: Grid) -> tuple[int, int]:
    """The largest and smallest size of a caption's letters, in px, for panels this wide."""
    return min(40, max(16, grid.art // 18)), SMALLEST_TEXT


def decoded(source: Source, width: int, height: int) -> Image.Image:
    """The panel's image as RGB, scaled to fit within width × height. Encoded bytes are decoded
    here and let go before returning; a JPEG is decoded at the smallest scale that still fills
    the box."""
    if isinstance(source, Image.Image):
        picture = source.convert("RGB") if source.mode != "RGB" else source.copy()
    else:
        with Image.open(io.BytesIO(source)) as opened:
            opened.draft("RGB", (width, height))
            picture = _flattened(opened)
    if picture.width > width or picture.height > height:
        picture.thumbnail((width, height), Image.Resampling.LANCZOS)
    else:
        scale = min(width / picture.width, height / picture.height)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        if size != picture.size:
            picture = picture.resize(size, Image.Resampling.LANCZOS)
    return picture


def _flattened(image: Image.Image) -> Image.Image:
    """RGB, transparency over the page's paper."""
    image.load()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, PAPER)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def draw_panel(canvas: Image.Image, source: Source | None, box: Box) -> None:
    """The panel's art centred in its box with a thin frame, or a grey box if it is missing
    (or cannot be read: one damaged image does not lose the whole export)."""
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = box
    picture = None
    if source is not None:
        try:
            picture = decoded(source, right - left, bottom - top)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            log.warning("a story's panel could not be read, drawn as missing: %s", error)
    if picture is None:
        draw.rectangle([(left, top), (right - 1, bottom - 1)], fill=MISSING, outline=FRAME)
        middle = ((left + right) / 2, (top + bottom) / 2)
        draw_line(draw, middle, "?", size=(right - left) // 3, fill=MUTED, anchor="mm")
        return
    x = left + (right - left - picture.width) // 2
    y = top + (bottom - top - picture.height) // 2
    draw.rectangle([(x - 1, y - 1), (x + picture.width, y + picture.height)], outline=FRAME)
    canvas.paste(picture, (x, y))
    picture.close()


def compose_page(title: str, panels: Sequence[Panel], layout: Layout, index: int) -> Page:
    """Page `index` (from 0) of the story: its panels, their captions, its number, and on the
    first page the title."""
    shape = geometry(layout, panels)
    first = index == 0
    count = page_count(layout, len(panels))
    canvas = Image.new("RGB", (shape.width, shape.height(first)), PAPER)
    draw = ImageDraw.Draw(canvas)
    band = (MARGIN, MARGIN // 2, shape.width - MARGIN, MARGIN + TITLE_BAND - 16)
    largest, smallest = caption_sizes(shape.grid)
    cut = []
    if first and title.strip():
        fitted = draw_in_box(draw, title, band, fill=INK, largest=44, smallest=16)
        if not fitted.complete:
            cut.append(TITLE)
    for slot, number in enumerate(panels_on_page(layout, len(panels), index)):
        panel = panels[number - 1]
        draw_panel(canvas, panel.image, shape.art_box(slot, first))
        if shape.caption and panel.caption.strip():
            box = shape.caption_box(slot, first)
            fitted = draw_in_box(
                draw, panel.caption, box, fill=INK, largest=largest, smallest=smallest, valign="top"
            )
            if not fitted.complete:
                cut.append(number)
    footer = (shape.width / 2, canvas.height - MARGIN // 2 - FOOTER / 2)
    draw_line(draw, footer, f"{index + 1} / {count}", size=18, fill=MUTED, anchor="mm")
    return Page(canvas, index + 1, tuple(cut))


def pages(title: str, panels: Sequence[Panel], layout: Layout) -> Iterator[Page]:
    """Every page in order, each drawn only when asked for: hold one at a time."""
    for index in range(page_count(layout, len(panels))):
        yield compose_page(title, panels, layout, index)


def decoding_cost(source: Source | None) -> int:
    """Bytes that decoding a panel holds at its peak (from its header alone)."""
    if source is None or isinstance(source, Image.Image):
        return 0  # a decoded panel is copied at the page's scale at most: see drawing_cost
    try:
        return generated_cost(source).bytes
    except NotAnImage:
        return len(source)


def drawing_cost(layout: Layout, panels: Sequence[Panel]) -> int:
    """Bytes drawing one page at a time holds at most: the page, its fitted copy (a smaller
    or re-encoded page) and the largest panel's decode; not the panels' own bytes, which the
    caller holds already."""
    shape = geometry(layout, panels)
    page = shape.width * shape.height(True) * DECODED_BYTES_PER_PIXEL
    art = shape.grid.art**2 * DECODED_BYTES_PER_PIXEL
    largest = max((decoding_cost(panel.image) for panel in panels), default=0)
    return 2 * page + art + largest


# A character's sheet: one image, a labelled panel per view, expression or action.


@dataclass(frozen=True)
class Sheet:
    image: Image.Image
    cut: tuple[int, ...]  # panels (from 1) whose label had to be shortened; TITLE, the title


SHEET_ART = 400


def sheet_columns(count: int) -> int:
    """Four in a row at most; six as two rows of three."""
    return count if count <= 4 else math.ceil(count / 2) if count <= 8 else 4


def sheet_size(count: int) -> tuple[int, int]:
    columns = sheet_columns(max(1, count))
    rows = max(1, math.ceil(count / columns))
    width = 2 * MARGIN + columns * SHEET_ART + (columns - 1) * GUTTER
    height = MARGIN + TITLE_BAND + rows * (SHEET_ART + LABEL_BAND) + (rows - 1) * GUTTER + MARGIN
    return width, height


def sheet_cost(panels: Sequence[Panel]) -> int:
    """Bytes drawing a sheet holds at most: the sheet, a fitted copy, the largest decode."""
    width, height = sheet_size(len(panels))
    largest = max((decoding_cost(panel.image) for panel in panels), default=0)
    art = SHEET_ART**2 * DECODED_BYTES_PER_PIXEL
    return 2 * width * height * DECODED_BYTES_PER_PIXEL + art + largest


def compose_sheet(title: str, panels: Sequence[Panel]) -> Sheet:
    """The panels side by side (in rows of up to four), each labelled underneath with its
    caption ("front", "side"…), the title above; a missing panel is a grey box."""
    columns = sheet_columns(max(1, len(panels)))
    cell = SHEET_ART + LABEL_BAND
    width, height = sheet_size(len(panels))
    canvas = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(canvas)
    band = (MARGIN, MARGIN // 2, width - MARGIN, MARGIN + TITLE_BAND - 16)
    fitted = draw_in_box(draw, title, band, fill=INK, largest=40, smallest=16)
    cut = [] if fitted.complete else [TITLE]
    for number, panel in enumerate(panels, start=1):
        row, column = divmod(number - 1, columns)
        left = MARGIN + column * (SHEET_ART + GUTTER)
        top = MARGIN + TITLE_BAND + row * (cell + GUTTER)
        draw_panel(canvas, panel.image, (left, top, left + SHEET_ART, top + SHEET_ART))
        label = (left, top + SHEET_ART + CAPTION_GAP, left + SHEET_ART, top + cell)
        fitted = draw_in_box(draw, panel.caption, label, fill=INK, largest=28, smallest=14)
        if not fitted.complete:
            cut.append(number)
    return Sheet(canvas, tuple(cut))
