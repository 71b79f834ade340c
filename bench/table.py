"""The benchmark's rows, the figures in them, and the table they are printed as."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass
class Row:
    measure: str
    value: str
    goal: str
    detail: str
    # The run could not finish: the bench exits 1.
    failed: bool = False


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)
    return ordered[max(index, 0)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def p50_p99(seconds: list[float]) -> str:
    return f"p50 {ms(statistics.median(seconds))} / p99 {ms(percentile(seconds, 0.99))}"


def print_table(rows: list[Row]) -> None:
    widths = [max(len(getattr(row, f)) for row in rows) for f in ("measure", "value", "goal")]
    header = ("measure", "value", "goal")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  detail")
    for row in rows:
        cells = (row.measure, row.value, row.goal)
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + row.detail)
