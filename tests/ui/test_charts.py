"""The charts' own labels: drawn in the reader's language, Japanese included, with letters from
the bundled fonts (the message and alt text carry the same figures in every language)."""

from __future__ import annotations

import io

from babel.messages.pofile import read_po
from PIL import Image

from bot.domain.daily_series import DayTotal, ServerSeries, chart_days
from bot.ui.charts import draw_servers, draw_usage, drawn_locale
from bot.ui.i18n import CATALOGS, LOCALES_DIR
from bot.ui.typefaces import face_of

DAYS = [DayTotal(day, day % 3, (day % 3) * 0.58) for day in chart_days(86_400 * 20_000)]


def test_a_chart_speaks_the_readers_language() -> None:
    english = draw_usage(DAYS, "en-US")
    french = draw_usage(DAYS, "fr")
    japanese = draw_usage(DAYS, "ja")
    assert french != english, "French labels are drawn in French"
    assert japanese != english, "Japanese labels are drawn in Japanese"
    assert draw_usage(DAYS, "ko") == english, "a language without a catalog reads English"
    with Image.open(io.BytesIO(japanese)) as image:
        assert image.format == "PNG"
        assert image.size == (800, 400)


def test_every_label_a_chart_draws_has_its_letters_in_the_font() -> None:
    # A letter no bundled font has is drawn as an empty box: the label would be unreadable.
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
            if not letter.isspace() and face_of(letter) is None
        }
        assert not boxes, f"{locale}: no bundled font draws {sorted(boxes)}"


def test_a_server_named_in_japanese_is_drawn_in_letters_on_the_spend_chart() -> None:
    # Empty boxes would look the same whatever the name: two names, two pictures.
    servers = [ServerSeries((1,), tuple(day.dollars for day in DAYS), 20)]
    forest = draw_servers(DAYS, servers, ["森のサーバー"], "en-US")
    castle = draw_servers(DAYS, servers, ["城のサーバー"], "en-US")
    assert forest != castle
