"""A story's exported pages as a reader sees them: the panels in order with their own pixels,
each caption under its panel, the title on the first page, the right number of pages for each
layout, and files Discord takes (ten a message, each within the upload limit)."""

from __future__ import annotations

import io
import itertools
import json
import platform
import random
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops, PdfParser

from bot.memory import MemoryBudget, OverBudget
from bot.ui.story_export import (
    CAPTIONS_FILE,
    MAX_FILES,
    Export,
    ExportFile,
    Format,
    TooLarge,
    export,
    export_cost,
    export_within,
    messages_within,
    sheet_within,
)
from bot.ui.story_pages import MISSING, PAPER, TITLE, Layout, Panel, compose_sheet, page_count

MB = 2**20
LIMIT = 10 * MB  # Discord's attachment_size_limit for most servers
JAPANESE = (
    "勇者ミラは古い森の上を飛び、幼なじみが待っている丘の上の城へ向かった。"
    "「ありがとう！」と彼女は笑い、長い旅がようやく終わったことを知った。"
)


def colours(count: int, seed: int = 1) -> list[tuple[int, int, int]]:
    """`count` colours far from each other, from the paper and from the text's ink."""
    chosen: list[tuple[int, int, int]] = []
    pick = random.Random(seed)
    while len(chosen) < count:
        colour = (pick.randrange(30, 230), pick.randrange(30, 230), pick.randrange(30, 230))
        if all(sum(abs(a - b) for a, b in zip(colour, c, strict=True)) > 40 for c in chosen):
            chosen.append(colour)
    return chosen


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (1024, 1024)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def story(count: int, caption: str = "Panel {n}: Mira walks on.") -> list[Panel]:
    return [
        Panel(solid(colour), caption.format(n=n))
        for n, colour in enumerate(colours(count), start=1)
    ]


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def region(page: Image.Image, colour: tuple[int, int, int]) -> tuple[int, int, int, int] | None:
    """The box around every pixel of exactly `colour` on the page."""
    same = ImageChops.difference(page, Image.new("RGB", page.size, colour)).convert("L")
    return same.point(lambda v: 255 if v == 0 else 0).getbbox()


def ink(page: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels in `box` are darker than the paper: letters."""
    area = page.crop(box).convert("L")
    return sum(area.point(lambda v: 255 if v < 150 else 0).histogram()[255:])


def panels_on(page: Image.Image, palette: list[tuple[int, int, int]]) -> list[int]:
    """The panels (by their colour's index) found on the page, in reading order: rows from the
    top, each from the left. Every one found is a solid square at least 300 px wide."""
    found = []
    for index, colour in enumerate(palette):
        box = region(page, colour)
        if box is None:
            continue
        left, top, right, bottom = box
        assert right - left >= 300 and bottom - top >= 300, f"panel {index + 1} is {box}"
        # Its art is untouched: every pixel inside its box is its own colour.
        assert page.crop(box).getcolors() == [((right - left) * (bottom - top), colour)]
        found.append((top // 100, left, index))
    return [index for _, _, index in sorted(found)]


@pytest.mark.parametrize(
    ("layout", "expected_pages"),
    [
        (Layout.GRID_2X2, 3),
        (Layout.GRID_3X2, 2),
        (Layout.STRIP, 3),
        (Layout.ONE_PER_PAGE, 9),
    ],
)
def test_png_pages_hold_the_panels_in_order_with_their_captions_under_them(
    layout: Layout, expected_pages: int
) -> None:
    palette = colours(9)
    panels = story(9)
    result = export("Mira's long walk", panels, layout, Format.PNG, limit=LIMIT)
    assert result.pages == expected_pages == len(result.files)
    assert result.cut == () and result.smaller == ()
    seen = []
    for number, file in enumerate(result.files, start=1):
        assert file.filename.endswith(f"page-{number}.png")
        page = decoded(file.data)
        order = panels_on(page, palette)
        seen += order
        for index in order:
            left, _, right, bottom = region(page, palette[index])
            assert ink(page, (left, bottom + 2, right, bottom + 60)) > 50, "a caption under it"
        # The page's number at its foot.
        assert ink(page, (0, page.height - 70, page.width, page.height)) > 20
    assert seen == list(range(9)), "every panel once, in the story's order"
    # Each file says which panels it shows, for its description.
    assert [n for file in result.files for n in file.panels] == list(range(1, 10))
    first = decoded(result.files[0].data)
    top_of_art = min(region(first, palette[i])[1] for i in panels_on(first, palette))
    assert ink(first, (0, 0, first.width, top_of_art)) > 200, "the title above the first panels"
    if len(result.files) > 1:
        second = decoded(result.files[1].data)
        top_of_art = min(region(second, palette[i])[1] for i in panels_on(second, palette))
        assert ink(second, (0, 0, second.width, top_of_art)) == 0, "the title is on page 1 only"


def test_pages_per_layout_for_a_full_story() -> None:
    assert [page_count(layout, 40) for layout in Layout] == [10, 7, 10, 40]
    assert [page_count(layout, 1) for layout in Layout] == [1, 1, 1, 1]


def test_a_long_japanese_caption_is_wrapped_and_shrunk_on_the_page_not_cut() -> None:
    panels = [Panel(solid((40, 90, 200)), JAPANESE), Panel(solid((200, 90, 40)), "Short.")]
    result = export("物語", panels, Layout.GRID_3X2, Format.PNG, limit=LIMIT)
    assert result.cut == ()
    page = decoded(result.files[0].data)
    left, _, right, bottom = region(page, (40, 90, 200))
    rows_with_ink = [
        y for y in range(bottom + 2, bottom + 110) if ink(page, (left, y, right, y + 1)) > 0
    ]
    # Several lines of letters: more than two rows of ink separated by blank rows.
    gaps = sum(1 for a, b in itertools.pairwise(rows_with_ink) if b - a > 1)
    assert gaps >= 2, f"{gaps + 1} lines"


def test_a_caption_too_long_for_its_box_is_cut_only_with_the_caller_told() -> None:
    panels = story(3)
    panels[1] = Panel(panels[1].image, JAPANESE * 8)
    result = export("Too much to say", panels, Layout.GRID_3X2, Format.PNG, limit=LIMIT)
    assert result.cut == (2,)


def test_a_panel_of_another_shape_keeps_its_proportions_inside_its_frame() -> None:
    wide = Panel(solid((200, 40, 90), (1024, 512)), "Wide")
    page = decoded(export("", [wide], Layout.GRID_2X2, Format.PNG, limit=LIMIT).files[0].data)
    left, top, right, bottom = region(page, (200, 40, 90))
    assert (right - left) == 2 * (bottom - top)


def test_a_tiny_upload_limit_makes_pages_smaller_jpegs_rather_than_fail() -> None:
    # Noise does not compress: these pages are megabytes as PNG.
    noise = random.Random(3)
    panels = [
        Panel(Image.frombytes("RGB", (512, 512), noise.randbytes(512 * 512 * 3)), f"Noisy {n}")
        for n in range(4)
    ]
    limit = 200 * 1024
    result = export("Static", panels, Layout.GRID_2X2, Format.PNG, limit=limit)
    assert len(result.files) == 1
    (page,) = result.files
    assert page.filename.endswith(".jpg") and result.smaller == (page.filename,)
    assert len(page.data) <= limit
    assert decoded(page.data).width >= 300, "still a page one can look at"
    with pytest.raises(TooLarge):
        export("Static", panels, Layout.GRID_2X2, Format.PNG, limit=2000)


def test_files_go_out_ten_a_message_in_order() -> None:
    files = tuple(ExportFile(f"page-{n}.png", b"") for n in range(23))
    messages = Export(files, 23).messages()
    assert [len(message) for message in messages] == [10, 10, 3]
    assert [file for message in messages for file in message] == list(files)


def _pdf_pages(data: bytes) -> list[tuple[float, float]]:
    document = PdfParser.PdfParser(buf=data)
    sizes = []
    for reference in document.pages:
        box = document.read_indirect(reference)[b"MediaBox"]
        sizes.append((box[2], box[3]))
    return sizes


@pytest.mark.parametrize(("layout", "expected"), [(Layout.GRID_2X2, 3), (Layout.STRIP, 3)])
def test_pdf_is_one_file_with_a_page_per_page(layout: Layout, expected: int) -> None:
    result = export("Mira — 物語", story(10), layout, Format.PDF, limit=LIMIT)
    (file,) = result.files
    assert file.filename == "story.pdf" and file.data.startswith(b"%PDF")
    assert file.panels == tuple(range(1, 11))
    assert result.pages == expected
    assert len(_pdf_pages(file.data)) == expected
    # Counted as the simplest reader would: one page object a page, no stale copies.
    assert len(re.findall(rb"/Type\s*/Page\b", file.data)) == expected
    sizes = _pdf_pages(file.data)
    assert sizes[0][1] > sizes[1][1], "the first page has the title above its panels"


def test_a_pdf_over_the_limit_is_made_with_smaller_images() -> None:
    noise = random.Random(5)
    panels = [
        Panel(Image.frombytes("RGB", (512, 512), noise.randbytes(512 * 512 * 3)), "")
        for _ in range(8)
    ]
    whole = export("Static", panels, Layout.GRID_2X2, Format.PDF, limit=LIMIT)
    limit = len(whole.files[0].data) // 2
    smaller = export("Static", panels, Layout.GRID_2X2, Format.PDF, limit=limit)
    assert len(smaller.files[0].data) <= limit
    assert smaller.smaller == ("story.pdf",)
    assert len(_pdf_pages(smaller.files[0].data)) == 2


def test_zip_holds_every_panel_at_full_resolution_and_the_captions() -> None:
    panels = story(5)
    panels[2] = Panel(panels[2].image, JAPANESE)
    panels[3] = Panel(panels[3].image, "")
    result = export("Mira", panels, Layout.GRID_2X2, Format.ZIP, limit=LIMIT, stem="Mira's walk")
    (file,) = result.files
    assert file.filename == "mira-s-walk.zip"
    with zipfile.ZipFile(io.BytesIO(file.data)) as archive:
        names = archive.namelist()
        assert names == [f"panel-0{n}.png" for n in range(1, 6)] + [CAPTIONS_FILE]
        for name, panel in zip(names, panels, strict=False):
            assert archive.read(name) == panel.image, "the very file, at full resolution"
            assert decoded(archive.read(name)).size == (1024, 1024)
        captions = archive.read(CAPTIONS_FILE).decode("utf-8").splitlines()
    assert captions == [
        "1. Panel 1: Mira walks on.",
        "2. Panel 2: Mira walks on.",
        f"3. {JAPANESE}",
        "4.",
        "5. Panel 5: Mira walks on.",
    ]


def test_a_zip_over_the_limit_is_split_into_parts_that_each_fit() -> None:
    panels = story(6)
    limit = 3 * len(panels[0].image) + 4096
    result = export("Mira", panels, Layout.GRID_2X2, Format.ZIP, limit=limit)
    assert [f.filename for f in result.files] == ["story-1-of-2.zip", "story-2-of-2.zip"]
    held = []
    for file in result.files:
        assert len(file.data) <= limit
        with zipfile.ZipFile(io.BytesIO(file.data)) as archive:
            held += [name for name in archive.namelist() if name != CAPTIONS_FILE]
            assert len(archive.read(CAPTIONS_FILE).decode().splitlines()) == 6
    assert held == [f"panel-0{n}.png" for n in range(1, 7)]
    assert [file.panels for file in result.files] == [(1, 2, 3), (4, 5, 6)]


async def test_an_export_waits_for_room_in_the_memory_budget_and_gives_it_back() -> None:
    budget = MemoryBudget(300 * MB)
    result = await export_within(budget, "Mira", story(8), Layout.GRID_2X2, Format.PNG, limit=LIMIT)
    assert isinstance(result, Export) and result.pages == 2
    assert budget.held == 0
    with pytest.raises(OverBudget):
        await export_within(
            MemoryBudget(MB), "Mira", story(2), Layout.GRID_2X2, Format.PDF, limit=LIMIT
        )


async def test_forty_pages_are_drawn_a_message_at_a_time_within_a_budget_too_small_for_all() -> (
    None
):
    panels = story(40)
    layout = Layout.ONE_PER_PAGE
    message_cost = export_cost(panels, layout, Format.PNG, LIMIT, MAX_FILES)
    assert export_cost(panels, layout, Format.PNG, LIMIT) > 2 * message_cost
    budget = MemoryBudget(message_cost)
    with pytest.raises(OverBudget):
        await export_within(budget, "Forty", panels, layout, Format.PNG, limit=LIMIT)
    sent = [
        message
        async for message in messages_within(
            budget, "Forty", panels, layout, Format.PNG, limit=LIMIT
        )
    ]
    assert [len(message.files) for message in sent] == [10, 10, 10, 10]
    names = [file.filename for message in sent for file in message.files]
    assert names == [f"story-page-{n:02d}.png" for n in range(1, 41)]
    assert budget.held == 0
    page = decoded(sent[3].files[9].data)
    assert panels_on(page, colours(40)) == [39], "the last page holds the last panel"


def test_a_sheet_is_one_image_of_labelled_panels_with_a_missing_one_shown_missing() -> None:
    palette = colours(6)
    labels = ["happy", "sad", "angry", "surprised", "scared", "thinking"]
    panels = [Panel(solid(colour), label) for colour, label in zip(palette, labels, strict=True)]
    panels[4] = Panel(None, "scared")
    sheet = compose_sheet("Mira — expressions", panels)
    image = sheet.image
    assert sheet.cut == ()
    order = panels_on(image, palette)
    assert order == [0, 1, 2, 3, 5], "in order, three a row; the missing one left out"
    for index in order:
        left, _, right, bottom = region(image, palette[index])
        assert ink(image, (left, bottom + 2, right, bottom + 50)) > 20, "its label under it"
    # Where the missing panel goes: a grey box, not the paper, still labelled.
    left, top, right, bottom = region(image, palette[3])
    gap = right - left + (region(image, palette[1])[0] - region(image, palette[0])[2])
    missing = image.crop((left + gap, top, right + gap, bottom))
    assert PAPER not in {colour for _, colour in missing.getcolors(1 << 16)}
    assert ink(image, (left + gap, bottom + 2, right + gap, bottom + 50)) > 20


async def test_a_sheet_is_sent_as_one_file_within_the_limit_and_the_budget() -> None:
    panels = [Panel(solid(colour), "front") for colour in colours(6)]
    budget = MemoryBudget(300 * MB)
    file, cut = await sheet_within(budget, "Mira — actions", panels, limit=LIMIT, stem="Mira")
    assert file.filename == "mira.png" and cut == ()
    assert panels_on(decoded(file.data), colours(6)) == list(range(6))
    assert budget.held == 0


def test_a_damaged_panel_is_shown_missing_and_the_rest_of_the_story_still_goes_out() -> None:
    panels = story(4)
    panels[1] = Panel(panels[1].image[:200], "Cut off")  # a PNG whose pixels are gone
    result = export("Mira", panels, Layout.GRID_2X2, Format.PNG, limit=LIMIT)
    page = decoded(result.files[0].data)
    assert panels_on(page, colours(4)) == [0, 2, 3]
    assert region(page, MISSING) is not None, "a grey box where it should be"


def test_a_title_too_long_for_its_band_is_cut_only_with_the_caller_told() -> None:
    result = export("Mira " * 200, story(2), Layout.GRID_2X2, Format.PNG, limit=LIMIT)
    assert result.cut == (TITLE,)
    sheet = compose_sheet("Mira " * 200, [Panel(None, "front")])
    assert sheet.cut == (TITLE,)


# Exports a 40-panel story in a fresh interpreter: its peak resident memory, from just before.
_MEASURE = """
import io, json, sys
from pathlib import Path
from PIL import Image, ImageDraw
from bot.memory import return_large_buffers_to_the_system
from bot.ui.story_export import Format, export, export_cost
from bot.ui.story_pages import Layout, Panel

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

def panel(n):
    image = Image.new("RGB", (1024, 1024), (n * 6, 120, 255 - n * 6))
    ImageDraw.Draw(image).ellipse((256, 256, 768, 768), fill=(255, n * 6, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()

return_large_buffers_to_the_system()  # as the bot does at start-up
layout, kind = Layout(sys.argv[1]), Format(sys.argv[2])
panels = [Panel(panel(n), f"Panel {n}: Mira walks on. ミラは歩く。") for n in range(40)]
cost = export_cost(panels, layout, kind, 10 * 2**20)
Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from now
before = status("VmRSS")
export("Mira", panels, layout, kind, limit=10 * 2**20)
print(json.dumps({"cost": cost, "peak": status("VmHWM") - before}))
"""


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc")
@pytest.mark.parametrize(
    ("layout", "kind"), [(Layout.GRID_2X2, Format.PNG), (Layout.ONE_PER_PAGE, Format.PDF)]
)
def test_a_forty_panel_export_takes_no_more_memory_than_it_reserves(
    layout: Layout, kind: Format
) -> None:
    # Forty panels decoded at once would take 160 MB: a page at a time takes a few pages' worth.
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(  # noqa: S603 - this interpreter, this file's own script
        [sys.executable, "-c", _MEASURE, layout.value, kind.value],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root)},
        check=True,
        timeout=120,
    )
    found = json.loads(child.stdout)
    peak, cost = found["peak"] / 2**20, found["cost"] / 2**20
    assert peak <= cost, f"peak {peak:.0f} MB over the {cost:.0f} MB reserved"
    assert cost < 100, f"{cost:.0f} MB reserved"
