"""Spend per day as a picture: bar charts drawn with Pillow, which the bot has already.

An opaque card in Discord's own dark grey, so that it reads the same on the dark and the light
theme; colours from the Okabe–Ito palette, told apart by people with any colour vision. A
chart is a fixed WIDTH × HEIGHT PNG of a few kilobytes; its numbers are also given in the
message's text and the image's description (alt text), for screen readers and search.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import discord
from PIL import Image, ImageDraw

from bot.domain.daily_series import DayTotal, ServerSeries
from bot.ui.i18n import tr
from bot.ui.picture_text import draw_line, line_width

WIDTH, HEIGHT = 800, 400
BACKGROUND = (43, 45, 49)
TEXT = (242, 243, 245)
MUTED = (181, 186, 193)
GRID = (70, 73, 80)
GENERATIONS = (86, 180, 233)  # sky blue
SPEND = (230, 159, 0)  # orange
# A server a colour, most spent first; "others" last, in grey.
SERVER_COLOURS = (
    (86, 180, 233),
    (230, 159, 0),
    (0, 158, 115),
    (240, 228, 66),
    (204, 121, 167),
    (213, 94, 0),
)
OTHERS = (150, 150, 150)
# Where the bars go: the same x for every panel, so the days line up.
PLOT_LEFT, PLOT_RIGHT = 70, WIDTH - 20
# A bar that stands for anything at all is at least this tall.
MIN_BAR = 2
ALT_TEXT_LIMIT = 1024  # Discord's limit on an attachment's description
NAME_LIMIT = 24  # characters of a server's name in the legend
# Languages whose letters the bundled fonts draw (bot/ui/typefaces.py): `drawn_locale`.
DRAWN_LANGUAGES = ("en", "es", "pt", "fr", "de", "ja")


@dataclass(frozen=True)
class Panel:
    """A plot area: bars stand on `bottom` and reach `top` at the axis's highest value."""

    top: int
    bottom: int


# /usage: generations above, dollars below. /admin spend: one panel, dollars stacked by server.
USAGE_GENERATIONS = Panel(48, 196)
USAGE_SPEND = Panel(222, 350)
SERVERS_SPEND = Panel(48, 314)
LEGEND_ROW = 22


def bar_span(index: int, count: int) -> tuple[int, int]:
    """The first and last x of day `index`'s bar among `count` days."""
    width = (PLOT_RIGHT - PLOT_LEFT) / count
    left = PLOT_LEFT + index * width
    gap = max(1.0, width * 0.2)
    return round(left + gap / 2), round(left + width - gap / 2) - 1


def _nice_step(highest: float, whole: bool) -> float:
    """A round step (1, 2 or 5 times a power of ten) that covers `highest` in at most 4."""
    if highest <= 0:
        return 1.0
    raw = highest / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return max(step, 1.0) if whole else step


def _panel(
    draw: ImageDraw.ImageDraw,
    panel: Panel,
    stacks: Sequence[Sequence[float]],
    colours: Sequence[tuple[int, int, int]],
    label: Callable[[float], str],
    whole: bool,
) -> None:
    """Gridlines with their values on the left, then one bar a day, its series stacked."""
    count = len(stacks[0])
    totals = [sum(series[i] for series in stacks) for i in range(count)]
    step = _nice_step(max(totals), whole)
    ticks = max(1, math.ceil(max(totals) / step - 1e-9))
    scale = (panel.bottom - panel.top) / (ticks * step)
    for tick in range(ticks + 1):
        y = round(panel.bottom - tick * step * scale)
        draw.line([(PLOT_LEFT, y), (PLOT_RIGHT, y)], fill=GRID if tick else MUTED)
        draw_line(draw, (PLOT_LEFT - 8, y), label(tick * step), size=12, fill=MUTED, anchor="rm")
    for index in range(count):
        left, right = bar_span(index, count)
        base = panel.bottom - 1
        for series, colour in zip(stacks, colours, strict=True):
            value = series[index]
            if value <= 0:
                continue
            height = max(MIN_BAR, round(value * scale))
            draw.rectangle([(left, base - height + 1), (right, base)], fill=colour)
            base -= height


def _dates(draw: ImageDraw.ImageDraw, days: Sequence[DayTotal], y: int) -> None:
    """Every fifth day's date under its bar, ending with today's."""
    for index in range(len(days) - 1, -1, -5):
        left, right = bar_span(index, len(days))
        date = f"{days[index].date:%m-%d}"
        draw_line(draw, ((left + right) / 2, y), date, size=12, fill=MUTED, anchor="ma")


def _legend(
    draw: ImageDraw.ImageDraw,
    entries: Sequence[tuple[str, tuple[int, int, int]]],
    y: int,
    *,
    wrap: bool = False,
) -> None:
    """Coloured squares and names: one row ending at the right edge, or (`wrap`) rows from
    the plot's left edge, as many as the names need."""
    widths = [14 + 6 + line_width(name, 13) + 18 for name, _ in entries]
    x = PLOT_LEFT if wrap else max(PLOT_LEFT, WIDTH - 20 - sum(widths) + 18)
    for (name, colour), width in zip(entries, widths, strict=True):
        if wrap and x > PLOT_LEFT and x + width - 18 > WIDTH - 20:
            x, y = PLOT_LEFT, y + LEGEND_ROW
        draw.rectangle([(x, y - 7), (x + 13, y + 6)], fill=colour)
        draw_line(draw, (x + 20, y), name, size=13, fill=TEXT, anchor="lm")
        x += width


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Not optimize=True: it takes twice as long (30 ms, not 14) for a file 8 % smaller.
    image.save(buffer, "PNG")
    return buffer.getvalue()


def drawn_locale(locale: discord.Locale | str | None) -> discord.Locale | str | None:
    """The language a chart's own labels are drawn in: the reader's where the bundled fonts can
    draw its letters, else English. The message and the image's
    alt text carry the same figures in the reader's language either way."""
    language = str(locale or "en-US").split("-")[0]
    return locale if language in DRAWN_LANGUAGES else "en-US"


def draw_usage(days: Sequence[DayTotal], locale: discord.Locale | str | None) -> bytes:
    """Generations per day (bars above) and dollars per day (bars below), as a PNG."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    locale = drawn_locale(locale)
    title = tr(locale, "Your last {days} days in this server (UTC days)", days=len(days))
    draw_line(draw, (20, 18), title, size=16, fill=TEXT, anchor="lm")
    _legend(
        draw,
        [
            (tr(locale, "Generations"), GENERATIONS),
            (tr(locale, "Spend (US$)"), SPEND),
        ],
        18,
    )
    _panel(
        draw,
        USAGE_GENERATIONS,
        [[day.generations for day in days]],
        [GENERATIONS],
        lambda v: f"{v:g}",
        whole=True,
    )
    _panel(
        draw,
        USAGE_SPEND,
        [[day.dollars for day in days]],
        [SPEND],
        lambda v: f"${v:.2f}",
        whole=False,
    )
    _dates(draw, days, USAGE_SPEND.bottom + 8)
    return _png(image)


def draw_servers(
    days: Sequence[DayTotal],
    servers: Sequence[ServerSeries],
    names: Sequence[str],
    locale: discord.Locale | str | None,
) -> bytes:
    """Dollars per day, each day's bar stacked by server (`names` in the legend), as a PNG."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    locale = drawn_locale(locale)
    title = tr(locale, "Spend per day by server, last {days} days (UTC days)", days=len(days))
    draw_line(draw, (20, 18), title, size=16, fill=TEXT, anchor="lm")
    colours = server_colours(servers)
    stacks = [list(s.dollars) for s in servers] or [[0.0] * len(days)]
    _panel(draw, SERVERS_SPEND, stacks, colours or [OTHERS], lambda v: f"${v:.2f}", whole=False)
    _dates(draw, days, SERVERS_SPEND.bottom + 8)
    shown = [_shorten(name) for name in names]
    _legend(draw, list(zip(shown, colours, strict=True)), SERVERS_SPEND.bottom + 44, wrap=True)
    return _png(image)


def server_colours(servers: Sequence[ServerSeries]) -> list[tuple[int, int, int]]:
    return [
        OTHERS if series.others else SERVER_COLOURS[index % len(SERVER_COLOURS)]
        for index, series in enumerate(servers)
    ]


def _shorten(name: str) -> str:
    return name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"


# What /usage and /admin spend attach, with the same figures in words.

USAGE_FILE = "usage-30-days.png"
SERVERS_FILE = "spend-30-days.png"
SUMMARY_DAYS = 7


def day_figures(days: Sequence[DayTotal], locale: discord.Locale | str | None) -> str:
    """The last SUMMARY_DAYS days in words: "12-01: 2 ($1.16) · 12-02: 0 · …"."""
    parts = []
    for day in days[-SUMMARY_DAYS:]:
        if day.generations or day.dollars:
            parts.append(
                tr(
                    locale,
                    "{date}: {generations} (${dollars})",
                    date=f"{day.date:%m-%d}",
                    generations=day.generations,
                    dollars=f"{day.dollars:.2f}",
                )
            )
        else:
            parts.append(f"{day.date:%m-%d}: 0")
    return " · ".join(parts)


def summary(days: Sequence[DayTotal], locale: discord.Locale | str | None) -> str:
    """The chart's figures in words: the total over its days and each of the last few."""
    return tr(
        locale,
        "Last {count} days (UTC, chart attached): {generations} generations, ${dollars}. "
        "Per day, last {shown}: {figures}.",
        count=len(days),
        generations=sum(day.generations for day in days),
        dollars=f"{sum(day.dollars for day in days):.2f}",
        shown=min(SUMMARY_DAYS, len(days)),
        figures=day_figures(days, locale),
    )


def _attached(data: bytes, filename: str, description: str) -> discord.File:
    if len(description) > ALT_TEXT_LIMIT:
        description = description[: ALT_TEXT_LIMIT - 1] + "…"
    return discord.File(io.BytesIO(data), filename=filename, description=description)


async def usage_chart(
    days: Sequence[DayTotal], locale: discord.Locale | str | None
) -> discord.File:
    """/usage's chart, drawn off the event loop, described for screen readers."""
    data = await asyncio.to_thread(draw_usage, days, locale)
    described = tr(
        locale,
        "Bar chart of your generations and spend per day. {summary}",
        summary=summary(days, locale),
    )
    return _attached(data, USAGE_FILE, described)


async def servers_chart(
    days: Sequence[DayTotal],
    servers: Sequence[ServerSeries],
    names: Sequence[str],
    locale: discord.Locale | str | None,
) -> discord.File:
    """/admin spend's chart, drawn off the event loop, described for screen readers."""
    data = await asyncio.to_thread(draw_servers, days, servers, names, locale)
    each = "; ".join(
        tr(locale, "{name}: ${dollars}", name=name, dollars=f"{series.total:.2f}")
        for name, series in zip(names, servers, strict=True)
    )
    described = tr(
        locale,
        "Stacked bar chart of spend per day by server. {summary} By server: {each}.",
        summary=summary(days, locale),
        each=each or tr(locale, "none"),
    )
    return _attached(data, SERVERS_FILE, described)
