"""How a long list is shown in a reply: whole when it fits, else its count and first items."""

from __future__ import annotations

from bot.ui.message_limits import MAX_CONTENT, fit_content, show_list


def test_a_list_that_fits_is_shown_whole() -> None:
    shown = show_list(["gore", "blood"], noun="words", filename="words.txt")
    assert shown.text == "gore, blood"
    assert shown.file is None


def test_a_long_list_shows_its_count_and_first_items_within_the_budget() -> None:
    words = [f"word{n:03d}" for n in range(200)]
    shown = show_list(words, noun="words", budget=100)
    assert shown.text == (
        "200 words; first 9: word000, word001, word002, word003, word004, word005, word006, "
        "word007, word008"
    )
    assert len(shown.text) <= 100
    assert shown.file is None


def test_the_whole_list_is_attached_one_item_a_line() -> None:
    shown = show_list(
        ["<#1111111111>", "<#2222222222>", "<#3333333333>", "<#4444444444>"],
        noun="channels",
        budget=55,
        filename="c.txt",
        lines=["#one", "#two", "#three", "#four"],
    )
    assert shown.text == "4 channels; first 1: <#1111111111> (all in c.txt)"
    assert shown.file is not None
    assert shown.file.filename == "c.txt"
    assert shown.file.fp.read() == b"#one\n#two\n#three\n#four\n"


def test_a_list_of_lines_stays_one_item_a_line() -> None:
    lines = [f"- server {n}: $1.00" for n in range(50)]
    shown = show_list(lines, noun="servers", budget=80, separator="\n", filename="s.txt")
    assert shown.text == (
        "50 servers; first 2:\n- server 0: $1.00\n- server 1: $1.00\n(all in s.txt)"
    )
    assert len(shown.text) <= 80


def test_a_reply_over_discords_limit_is_cut_to_it() -> None:
    assert fit_content("short") == "short"
    cut = fit_content("x" * 5000)
    assert len(cut) == MAX_CONTENT
    assert cut.endswith("…")
