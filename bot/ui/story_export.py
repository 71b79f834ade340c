"""A story as files Discord accepts: PNG pages (smaller, or JPEG, when one is over the upload
limit), one PDF with a page per page, or ZIPs of the panels at full resolution with their
captions; made off the event loop, within the process's memory budget."""

from __future__ import annotations

import asyncio
import enum
import io
import re
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from PIL import Image, PdfParser

from bot.domain.images import sniff
from bot.memory import MemoryBudget
from bot.ui.picture_text import paragraphs
from bot.ui.story_pages import (
    Layout,
    Page,
    Panel,
    compose_page,
    compose_sheet,
    drawing_cost,
    geometry,
    page_count,
    pages,
    panels_on_page,
    sheet_cost,
)

MAX_FILES = 10  # attachments in one Discord message
# A page too large for the upload limit is tried again smaller, in this order.
SMALLER = ((1.0, 90), (1.0, 80), (0.75, 80), (0.5, 75), (0.35, 70), (0.25, 60))
PDF_DPI = 150  # so a page of 1200 px prints 8 inches wide
CAPTIONS_FILE = "captions.txt"
# What a stored ZIP entry adds to its data: its local header and its central directory
# record (30 + 46 bytes and its name twice), with room to spare; and the archive's end.
ZIP_ENTRY_OVERHEAD = 128
ZIP_END = 64


class Format(enum.Enum):
    PNG = "png"
    PDF = "pdf"
    ZIP = "zip"


class TooLarge(Exception):
    """A file that cannot be made to fit the upload limit (a panel larger than it, in a ZIP)."""


@dataclass(frozen=True)
class ExportFile:
    filename: str
    data: bytes = field(repr=False)
    # The panels (from 1) it shows, for its description: a page's, a ZIP's; all, in a PDF.
    panels: tuple[int, ...] = ()


@dataclass(frozen=True)
class Export:
    files: tuple[ExportFile, ...]
    pages: int  # pages drawn (PNG, PDF); panels (ZIP)
    # Panels (from 1) whose caption had to be shortened on the page; TITLE (0), the title.
    cut: tuple[int, ...] = ()
    smaller: tuple[str, ...] = ()  # files made smaller or JPEG to fit the upload limit

    def messages(self, per_message: int = MAX_FILES) -> list[tuple[ExportFile, ...]]:
        """The files in groups that one message each can carry, in order."""
        return [
            self.files[start : start + per_message]
            for start in range(0, len(self.files), per_message)
        ]


def file_stem(name: str, default: str = "story") -> str:
    """A name safe in any file system and URL (Discord rewrites others): `default` if nothing
    of `name` is."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:40].strip("-")
    return stem.lower() or default


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _encoded(image: Image.Image, scale: float, quality: int | None) -> bytes:
    """PNG (quality None) or JPEG at `quality`, of `image` scaled by `scale`."""
    resized = image
    if scale != 1.0:
        resized = image.resize(_scaled(image.size, scale), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if quality is None:
        # zlib's fastest level: a page of grainy art in 0.3 s instead of 1.1 s at the default
        # level, for a file 20 % larger, far inside the upload limit.
        resized.save(buffer, "PNG", compress_level=1)
    else:
        resized.save(buffer, "JPEG", quality=quality, optimize=True)
    if resized is not image:
        resized.close()
    return buffer.getvalue()


def fit_page(image: Image.Image, limit: int) -> tuple[bytes, str]:
    """The page as PNG if it fits `limit` bytes, else the largest JPEG of it that does, and
    its file extension."""
    data = _encoded(image, 1.0, None)
    if len(data) <= limit:
        return data, "png"
    for scale, quality in SMALLER:
        data = _encoded(image, scale, quality)
        if len(data) <= limit:
            return data, "jpg"
    raise TooLarge(f"a page cannot be made smaller than {limit} bytes")


def png_pages(
    title: str,
    panels: Sequence[Panel],
    layout: Layout,
    *,
    limit: int,
    stem: str = "story",
    first: int = 0,
    count: int | None = None,
) -> Export:
    """One image a page, each within `limit` bytes: every page, or `count` from page `first`
    (from 0)."""
    files, cut, smaller = [], [], []
    total = page_count(layout, len(panels))
    width = len(str(total))
    last = total if count is None else min(total, first + count)
    for index in range(first, last):
        page = compose_page(title, panels, layout, index)
        data, extension = fit_page(page.image, limit)
        page.image.close()
        name = f"{file_stem(stem)}-page-{page.number:0{width}d}.{extension}"
        files.append(ExportFile(name, data, tuple(panels_on_page(layout, len(panels), index))))
        cut += page.cut
        if extension != "png":
            smaller.append(name)
    return Export(tuple(files), len(files), tuple(cut), tuple(smaller))


def pdf(
    title: str, panels: Sequence[Panel], layout: Layout, *, limit: int, stem: str = "story"
) -> Export:
    """One PDF, a page per page; drawn again with smaller images while it is over `limit`."""
    name = f"{file_stem(stem)}.pdf"
    for step, (scale, quality) in enumerate(SMALLER):
        data, cut = _pdf(title, panels, layout, scale, quality)
        if len(data) <= limit:
            count = page_count(layout, len(panels))
            everything = tuple(range(1, len(panels) + 1))
            file = ExportFile(name, data, everything)
            return Export((file,), count, cut, (name,) if step else ())
    raise TooLarge(f"the PDF cannot be made smaller than {limit} bytes")


def _pdf(
    title: str, panels: Sequence[Panel], layout: Layout, scale: float, quality: int
) -> tuple[bytes, tuple[int, ...]]:
    """The PDF written a page at a time, with Pillow's PDF writer: each page is drawn, stored
    as a JPEG, and let go before the next is drawn."""
    count = page_count(layout, len(panels))
    buffer = io.BytesIO()
    document = PdfParser.PdfParser(f=buffer, mode="w+b")
    document.info["Title"] = title
    document.start_writing()
    document.write_header()
    refs = [(document.next_object_id(0), document.next_object_id(0)) for _ in range(count)]
    document.pages.extend(page for page, _ in refs)
    document.write_catalog()
    cut: list[int] = []
    for (page_ref, contents_ref), page in zip(refs, pages(title, panels, layout), strict=True):
        cut += page.cut
        _pdf_page(document, page, page_ref, contents_ref, scale, quality)
    document.write_xref_and_trailer()
    document.close()
    return buffer.getvalue(), tuple(cut)


def _pdf_page(
    document: PdfParser.PdfParser,
    page: Page,
    page_ref: PdfParser.IndirectReference,
    contents_ref: PdfParser.IndirectReference,
    scale: float,
    quality: int,
) -> None:
    # The page's size in points stays the same whatever the scale: a smaller image prints
    # at the same size, less sharp.
    width, height = (size * 72 / PDF_DPI for size in page.image.size)
    jpeg = _encoded(page.image, scale, quality)
    pixels = _scaled(page.image.size, scale)
    page.image.close()
    name = PdfParser.PdfName
    image_ref = document.write_obj(
        None,
        stream=jpeg,
        Type=name("XObject"),
        Subtype=name("Image"),
        Width=pixels[0],
        Height=pixels[1],
        Filter=name("DCTDecode"),
        BitsPerComponent=8,
        ColorSpace=name("DeviceRGB"),
    )
    document.write_page(
        page_ref,
        Resources=PdfParser.PdfDict(
            ProcSet=[name("PDF"), name("ImageC")], XObject=PdfParser.PdfDict(image=image_ref)
        ),
        MediaBox=[0, 0, width, height],
        Contents=contents_ref,
    )
    document.write_obj(contents_ref, stream=b"q %f 0 0 %f 0 0 cm /image Do Q\n" % (width, height))


def captions_text(panels: Sequence[Panel]) -> str:
    """One line a panel, with its number: "3. The dragon wakes." (an empty caption too)."""
    return "".join(
        f"{number}. {' '.join(paragraphs(panel.caption))}".rstrip() + "\n"
        for number, panel in enumerate(panels, start=1)
    )


def _panel_file(number: int, width: int, panel: Panel) -> tuple[str, bytes] | None:
    """The panel's image as it was made (its own bytes and format); None if it is missing."""
    if panel.image is None:
        return None
    if isinstance(panel.image, Image.Image):
        buffer = io.BytesIO()
        panel.image.save(buffer, "PNG")
        data = buffer.getvalue()
    else:
        data = panel.image
    extension = {"jpeg": "jpg"}.get(sniff(data) or "png", sniff(data) or "png")
    return f"panel-{number:0{width}d}.{extension}", data


def zip_files(panels: Sequence[Panel], *, limit: int, stem: str = "story") -> Export:
    """The panels at full resolution and captions.txt, in as few ZIPs within `limit` bytes as
    they need (each with the whole captions.txt, so any one explains its numbers)."""
    captions = captions_text(panels).encode()
    width = max(2, len(str(len(panels))))
    parts: list[list[tuple[int, str, bytes]]] = [[]]
    size = ZIP_END + ZIP_ENTRY_OVERHEAD + 2 * len(CAPTIONS_FILE) + len(captions)
    base = size
    for number, panel in enumerate(panels, start=1):
        entry = _panel_file(number, width, panel)
        if entry is None:
            continue
        needed = ZIP_ENTRY_OVERHEAD + 2 * len(entry[0]) + len(entry[1])
        if base + needed > limit:
            raise TooLarge(f"panel {number} alone is over {limit} bytes")
        if parts[-1] and size + needed > limit:
            parts.append([])
            size = base
        parts[-1].append((number, *entry))
        size += needed
    stem = file_stem(stem)
    files = []
    for index, part in enumerate(parts, start=1):
        name = f"{stem}.zip" if len(parts) == 1 else f"{stem}-{index}-of-{len(parts)}.zip"
        held = tuple(number for number, _, _ in part)
        files.append(ExportFile(name, _zipped(part, captions), held))
    return Export(tuple(files), len(panels))


def _zipped(entries: list[tuple[int, str, bytes]], captions: bytes) -> bytes:
    buffer = io.BytesIO()
    # Images are compressed already: stored as they are; the captions are deflated.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for _, name, data in entries:
            archive.writestr(name, data)
        archive.writestr(CAPTIONS_FILE, captions, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def export(
    title: str,
    panels: Sequence[Panel],
    layout: Layout,
    kind: Format,
    *,
    limit: int,
    stem: str = "story",
) -> Export:
    """The story as `kind` files, each within `limit` bytes (the interaction's
    attachment_size_limit); `Export.messages()` groups them ten a message."""
    if kind is Format.PNG:
        return png_pages(title, panels, layout, limit=limit, stem=stem)
    if kind is Format.PDF:
        return pdf(title, panels, layout, limit=limit, stem=stem)
    return zip_files(panels, limit=limit, stem=stem)


def export_cost(
    panels: Sequence[Panel], layout: Layout, kind: Format, limit: int, pages: int | None = None
) -> int:
    """Bytes an export holds at most besides the panels themselves: drawing one page at a
    time, and the files it answers with (`pages` PNG pages, or all of them)."""
    if kind is Format.ZIP:
        return sum(len(p.image) for p in panels if isinstance(p.image, bytes)) + limit
    shape = geometry(layout, panels)
    files = page_count(layout, len(panels)) if pages is None else pages
    if kind is Format.PDF:
        files = 1
    page = shape.width * shape.height(True) * 3
    return drawing_cost(layout, panels) + files * min(limit, page)


async def export_within(
    budget: MemoryBudget,
    title: str,
    panels: Sequence[Panel],
    layout: Layout,
    kind: Format,
    *,
    limit: int,
    stem: str = "story",
) -> Export:
    """`export`, off the event loop, once the memory budget has room for it (OverBudget if it
    never could)."""
    async with budget.reserve(export_cost(panels, layout, kind, limit)):
        return await asyncio.to_thread(export, title, panels, layout, kind, limit=limit, stem=stem)


async def messages_within(
    budget: MemoryBudget,
    title: str,
    panels: Sequence[Panel],
    layout: Layout,
    kind: Format,
    *,
    limit: int,
    stem: str = "story",
) -> AsyncIterator[Export]:
    """The export a message at a time (at most MAX_FILES files each), off the event loop and
    within the memory budget. PNG pages are drawn a message's worth at a time, as the caller
    sends each: a 40-page story never holds more than ten pages' files."""
    if kind is not Format.PNG:
        whole = await export_within(budget, title, panels, layout, kind, limit=limit, stem=stem)
        for files in whole.messages():
            yield Export(files, whole.pages, whole.cut, whole.smaller)
        return
    total = page_count(layout, len(panels))
    for first in range(0, total, MAX_FILES):
        count = min(MAX_FILES, total - first)
        async with budget.reserve(export_cost(panels, layout, kind, limit, count)):
            part = await asyncio.to_thread(
                png_pages, title, panels, layout, limit=limit, stem=stem, first=first, count=count
            )
        yield Export(part.files, total, part.cut, part.smaller)


def sheet(
    title: str, panels: Sequence[Panel], *, limit: int, stem: str = "sheet"
) -> tuple[ExportFile, tuple[int, ...]]:
    """A character's sheet as one file within `limit` bytes, and what had to be shortened on it
    (its panels' labels, from 1; TITLE, the title)."""
    drawn = compose_sheet(title, panels)
    data, extension = fit_page(drawn.image, limit)
    drawn.image.close()
    return ExportFile(f"{file_stem(stem, 'sheet')}.{extension}", data), drawn.cut


async def sheet_within(
    budget: MemoryBudget,
    title: str,
    panels: Sequence[Panel],
    *,
    limit: int,
    stem: str = "sheet",
) -> tuple[ExportFile, tuple[int, ...]]:
    """`sheet`, off the event loop, within the memory budget."""
    async with budget.reserve(sheet_cost(panels) + limit):
        return await asyncio.to_thread(sheet, title, panels, limit=limit, stem=stem)
