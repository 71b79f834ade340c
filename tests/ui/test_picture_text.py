"""Text in pictures: every script the bot speaks is drawn with letters (not empty boxes), a text
too long for its box is wrapped, then shrunk, and cut only with an ellipsis its caller hears of."""

from __future__ import annotations

import unicodedata

from babel.messages.pofile import read_po
from PIL import Image, ImageChops, ImageDraw, ImageFont

from bot.ui.i18n import CATALOGS, LOCALES_DIR
from bot.ui.picture_text import ELLIPSIS, NO_LINE_START, draw_in_box, fit, paragraphs
from bot.ui.typefaces import CJK, LATIN, face_of, letters

JAPANESE = (
    "勇者ミラは古い森の上を飛び、幼なじみが待っている丘の上の城へ向かった。"
    "「ありがとう！」と彼女は笑い、長い旅がようやく終わったことを知った。"
)
FRENCH = "Le héros s'envole au-dessus de la forêt enchantée, où l'attend son vieil ami Zoë."


def test_the_bundled_fonts_between_them_have_every_letter_of_every_language() -> None:
    # What a user writes is in one of the six languages; what the catalogs hold is a fair
    # sample of their letters, kana and kanji included. Emoji are not drawn in pictures.
    unknown = set()
    for folder in CATALOGS.values():
        with (LOCALES_DIR / folder / "LC_MESSAGES" / "bot.po").open("rb") as file:
            catalog = read_po(file)
        for message in catalog:
            texts = message.string if isinstance(message.string, tuple) else (message.string,)
            unknown |= {
                letter
                for text in texts
                for letter in text or ""
                if not letter.isspace()
                and unicodedata.category(letter) != "So"
                and face_of(letter) is None
            }
    assert not unknown, f"no bundled font draws {sorted(unknown)}"
    assert ord("é") in letters(LATIN) and ord("日") not in letters(LATIN)
    assert ord("ア") in letters(CJK) and ord("漢") in letters(CJK)


def _drawn(text: str, size: tuple[int, int] = (400, 120)) -> Image.Image:
    image = Image.new("L", size, 0)
    draw_in_box(ImageDraw.Draw(image), text, (0, 0, *size), fill=255, largest=32, smallest=10)
    return image


def test_japanese_is_drawn_as_letters_not_as_the_empty_boxes_of_a_latin_font() -> None:
    drawn = _drawn("日本語のキャプション")
    boxes = Image.new("L", drawn.size, 0)
    boxes_draw = ImageDraw.Draw(boxes)
    latin = ImageFont.truetype(str(LATIN), 32)
    boxes_draw.text((0, 0), "日本語のキャプション", fill=255, font=latin)
    assert drawn.getbbox() is not None
    # Two different kanji drawn alone differ: a font without them draws the same box twice.
    assert ImageChops.difference(_drawn("森"), _drawn("城")).getbbox() is not None
    assert ImageChops.difference(drawn, boxes).getbbox() is not None


def test_a_long_japanese_caption_is_wrapped_and_shrunk_and_nothing_is_lost() -> None:
    fitted = fit(JAPANESE, 300, 90, largest=28, smallest=10)
    assert fitted.complete
    assert len(fitted.lines) > 1, "Japanese has no spaces: it breaks between letters"
    assert fitted.size < 28, "shrunk to fit"
    assert "".join(fitted.lines) == JAPANESE, "every letter is there, in order"
    assert fitted.width <= 300 and fitted.height <= 90
    # No line begins with a closing mark or a small kana (Japanese typesetting's rule).
    assert not [line for line in fitted.lines[1:] if line[0] in NO_LINE_START]


def test_latin_text_breaks_between_words_and_keeps_its_accents() -> None:
    fitted = fit(FRENCH, 260, 200, largest=24, smallest=10)
    assert fitted.complete
    assert len(fitted.lines) > 1
    assert " ".join(fitted.lines) == FRENCH, "no word is split"
    assert fit(FRENCH, 2000, 200, largest=24, smallest=10).lines == (FRENCH,)


def test_a_text_too_long_even_at_the_smallest_size_ends_with_an_ellipsis_and_says_so() -> None:
    fitted = fit(FRENCH * 10, 260, 60, largest=24, smallest=12)
    assert not fitted.complete
    assert fitted.size == 12
    assert fitted.lines[-1].endswith(ELLIPSIS)
    assert fitted.height <= 60
    assert fit(JAPANESE * 10, 260, 60, largest=24, smallest=12).complete is False


def test_a_word_longer_than_the_line_is_broken_rather_than_drawn_past_the_edge() -> None:
    word = "Supercalifragilisticexpialidocious" * 2
    fitted = fit(word, 200, 200, largest=24, smallest=12)
    assert fitted.complete and fitted.width <= 200
    assert "".join(fitted.lines) == word


def test_what_cannot_be_drawn_is_left_out_and_lines_are_kept() -> None:
    assert paragraphs("one\u2029two\n\n  three\u200b  four\x07 ") == ["one", "two", "three four"]
    assert paragraphs("Zoe\u0308") == ["Zoë"], "an accent typed apart is drawn on its letter"
    fitted = fit("first line\nsecond line", 400, 200, largest=20, smallest=10)
    assert fitted.lines == ("first line", "second line")
    assert fit("   ", 100, 100, largest=20, smallest=10).lines == ()
