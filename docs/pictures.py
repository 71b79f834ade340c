"""The README's pictures of an exported page and of a character sheet, drawn by the bot's own
code from images the tests' fake Segmind generates: `.venv/bin/python -m docs.pictures`."""

from __future__ import annotations

from pathlib import Path

from bot.ui.story_export import Format, export
from bot.ui.story_pages import Layout, Panel, compose_sheet
from tests.fakes.segmind import _Generation, _render

HERE = Path(__file__).parent
# Seeds the fake turns into a canvas of their colour with an ellipse of the opposite one.
SEEDS = (0x3B6EA8, 0xE09F3E, 0x2A9D8F, 0x9E2A2B, 0x6D597A, 0x588157)
CAPTIONS = (
    "Mira leaves the village at dawn, her grandmother's map in hand.",
    "ミラは森の入り口で立ち止まり、古い地図をもう一度広げた。「この道で合っているはず。」",
    "Au bord de la rivière, un vieux pêcheur lui indique le gué.",
    "Am Abend erreicht sie endlich die Burg auf dem Hügel.",
    "",
    "",
)


def fake_result(seed: int) -> bytes:
    return _render(_Generation(seed=seed, width=1024, height=1024), "png")


def main() -> None:
    panels = [
        Panel(fake_result(seed), caption) for seed, caption in zip(SEEDS, CAPTIONS, strict=True)
    ]
    pages = export("Mira's long walk", panels, Layout.GRID_2X2, Format.PNG, limit=10 * 2**20)
    (HERE / "story-page.png").write_bytes(pages.files[0].data)
    views = ("front", "three-quarter", "side", "back")
    sheet = compose_sheet(
        "Mira — turnaround",
        [Panel(fake_result(seed), view) for seed, view in zip(SEEDS, views, strict=False)],
    )
    sheet.image.save(HERE / "sheet.png", optimize=True)


if __name__ == "__main__":
    main()
