"""The charts' own labels: drawn in the reader's language where the bundled font can draw its
letters, in English where it cannot (the message and alt text carry the figures in every
language)."""

from __future__ import annotations

import io

from babel.messages.pofile import read_po
from PIL import Image, ImageFont

from bot.domain.daily_series import DayTotal, chart_days
from bot.ui.charts import FONT, draw_usage, drawn_locale
from bot.ui.i18n import CATALOGS, LOCALES_DIR

DAYS = [DayTotal(day, day % 3, (day % 3) * 0.58) for day in chart_days(86_400 * 20_000)]


def test_a_chart_speaks_the_readers_language_where_its_font_has_the_letters() -> None:
    english = draw_usage(DAYS, "en-US")
    french = draw_usage(DAYS, "fr")
    japanese = draw_usage(DAYS, "ja")
    assert french != english, "French labels are drawn in French"
    # Pillow's own font has no Japanese letters: English labels, not empty boxes.
    assert japanese == english
    with Image.open(io.BytesIO(japanese)) as image:
        assert image.format == "PNG"
        assert image.size == (800, 400)


def test_every_label_a_chart_draws_has_its_letters_in_the_font() -> None:
    # A letter the font lacks is drawn as an empty box: the label would be unreadable.
    font = ImageFont.truetype(str(FONT), 16)
    missing = bytes(font.getmask("\uffff"))
    for locale, folder in CATALOGS.items():
        if drawn_locale(locale) != locale:
            continue
        with (LOCALES_DIR / folder / "LC_MESSAGES" / "bot.po").open("rb") as file:
            catalog = read_po(file)
        labels = [
            message.string
            for message in catalog
            if message.id and any(place == "bot/ui/charts.py" for place, _ in message.locations)
        ]
        assert labels, f"no chart labels found for {locale}"
        boxes = {
            letter
            for label in labels
            for letter in str(label)
            if not letter.isspace() and bytes(font.getmask(letter)) == missing
        }
        assert not boxes, f"{locale}: the font cannot draw {sorted(boxes)}"
