"""The charts of /usage and /admin spend: how long one takes to draw, its PNG's size, and the
memory drawing adds. Run in a child process of its own (`python -m bench.charts N`), so that
its peak memory is the charts' and not what the other runs left behind."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from bot.domain.daily_series import chart_days, per_day, per_server, window_start
from bot.ui.charts import draw_servers, draw_usage


def _status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (the peak so far) of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(count: int) -> dict[str, object]:
    """Draw each chart `count` times from a busy month: a member's requests on most days,
    and 40 servers' spend (five named, the rest added up)."""
    shuffled = random.Random(7)
    days = chart_days(time.time())
    assert window_start(days) > 0
    mine = [
        {"day": day, "generations": n, "dollars": n * 0.58}
        for day in days
        if (n := shuffled.choice((0, 1, 2, 5, 10)))
    ]
    servers_rows = [
        {"day": day, "guild_id": guild, "generations": n, "dollars": n * 0.58}
        for day in days
        for guild in range(40)
        if (n := shuffled.choice((0, 0, 1, 3, 8)))
    ]
    totals, everyone = per_day(mine, days), per_day(servers_rows, days)
    servers = per_server(servers_rows, days)
    names = [f"a server called number {n}" for n in range(len(servers))]
    before = _status_mb("VmRSS")
    found: dict[str, object] = {"rss_before_mb": before}
    for name, draw in (
        ("usage", lambda: draw_usage(totals, "en-US")),
        ("servers", lambda: draw_servers(everyone, servers, names, "en-US")),
    ):
        seconds, size = [], 0
        for _ in range(count):
            began = time.perf_counter()
            size = len(draw())
            seconds.append(time.perf_counter() - began)
        found[name] = {"seconds": seconds, "png_bytes": size}
    found["rss_added_mb"] = _status_mb("VmHWM") - before
    return found


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]))))
