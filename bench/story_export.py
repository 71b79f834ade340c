"""`/story export` of a full story (40 panels of 1024×1024, captioned): how long PNG pages and
a PDF take, their size, and the memory exporting adds. Run in a child process of its own
(`python -m bench.story_export N`), so that its peak memory is the export's alone."""

from __future__ import annotations

import io
import json
import random
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

from bot.ui.story_export import Format, export, export_cost
from bot.ui.story_pages import Layout, Panel

PANELS = 40  # STORY_MAX_PANELS' default
LIMIT = 10 * 2**20
CAPTIONS = (
    "Mira leaves the village at dawn, her map in hand.",
    "ミラは夜明けに村を出た。地図を手に、まだ誰も知らない森へ。",
    "Au bord de la rivière, elle rencontre un vieux pêcheur.",
)


def _status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (the peak so far) of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def panel(seed: int) -> bytes:
    """A picture like a result: a gradient sky, a ground, a figure, some grain; PNG, ~1.7 MB."""
    shuffle = random.Random(seed)
    image = Image.linear_gradient("L").resize((1024, 1024)).convert("RGB")
    tint = Image.new("RGB", image.size, tuple(shuffle.randrange(60, 200) for _ in range(3)))
    image = Image.blend(image, tint, 0.6)
    draw = ImageDraw.Draw(image)
    draw.rectangle([(0, 760), (1024, 1024)], fill=(70, 120 + seed % 60, 60))
    x = shuffle.randrange(200, 800)
    draw.ellipse([(x - 60, 380), (x + 60, 500)], fill=(240, 200, 170))
    draw.rectangle([(x - 80, 500), (x + 80, 780)], fill=(180, 40, 60))
    grain = Image.frombytes("L", image.size, shuffle.randbytes(1024 * 1024)).convert("RGB")
    image = Image.blend(image, grain, 0.08)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)  # made fast; a result's own PNG is as large
    return buffer.getvalue()


def measure(count: int) -> dict[str, object]:
    panels = [Panel(panel(n), CAPTIONS[n % len(CAPTIONS)]) for n in range(PANELS)]
    before = _status_mb("VmRSS")
    found: dict[str, object] = {
        "rss_before_mb": before,
        "panels_mb": sum(len(p.image) for p in panels if isinstance(p.image, bytes)) / 2**20,
    }
    for name, layout, kind in (
        ("png", Layout.GRID_2X2, Format.PNG),
        ("pdf", Layout.GRID_2X2, Format.PDF),
        ("pdf_one_per_page", Layout.ONE_PER_PAGE, Format.PDF),
    ):
        seconds, sizes, pages = [], [0], 0
        for _ in range(count):
            began = time.perf_counter()
            result = export("Mira's long walk — ミラの旅", panels, layout, kind, limit=LIMIT)
            seconds.append(time.perf_counter() - began)
            sizes, pages = [len(f.data) for f in result.files], result.pages
        found[name] = {
            "seconds": seconds,
            "files": len(sizes),
            "largest_bytes": max(sizes),
            "total_bytes": sum(sizes),
            "pages": pages,
            "reserved_mb": export_cost(panels, layout, kind, LIMIT) / 2**20,
        }
    found["peak_rss_mb"] = _status_mb("VmHWM")
    return found


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
