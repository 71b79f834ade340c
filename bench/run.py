"""Benchmark: the real bot, as a child process, against the fake Discord and fake Segmind.

`make bench` (or `python -m bench.run`) prints a table and writes bench-results.json. Figures
are medians and 99th percentiles over many jobs, and ratios to a computed ideal: this machine
is shared and noisy, so nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import signal
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from tests.bot_process import BotProcess
from tests.fake_discord import FakeDiscord
from tests.fake_segmind import FakeSegmind
from tests.user_actions import accepted, delivered, pose


@dataclass
class Row:
    measure: str
    value: str
    goal: str
    detail: str


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)
    return ordered[max(index, 0)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def image_bytes(side: int) -> bytes:
    """A noisy JPEG: noise is the worst case for decoding, re-encoding and storage.

    At 1024 px it is about 1.1 MB, at 1370 px about 2 MB.
    """
    picture = Image.merge("RGB", [Image.effect_noise((side, side), 40 + 20 * n) for n in range(3)])
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@asynccontextmanager
async def running_bot(
    workdir: Path, env: dict[str, str], **segmind_options: Any
) -> AsyncIterator[tuple[FakeDiscord, FakeSegmind, BotProcess]]:
    discord_api = FakeDiscord()
    segmind = FakeSegmind(**segmind_options)
    await discord_api.start()
    await segmind.start()
    bot = await BotProcess.start(
        discord_api,
        workdir,
        {
            "SEGMIND_BASE_URL": segmind.base_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "LOG_LEVEL": "WARNING",
            **NO_USER_LIMITS,
            **env,
        },
        "bench",
    )
    try:
        try:
            await discord_api.wait_identified(timeout=60)
            await discord_api.wait_for(lambda: bool(discord_api.synced_commands), timeout=60)
        except AssertionError:
            raise RuntimeError(f"the bot did not start; its log:\n{bot.log[-2000:]}") from None
        yield discord_api, segmind, bot
    finally:
        await bot.kill_if_running()
        await segmind.close()
        await discord_api.close()


# The bench plays a crowd of heavy users: none of the per-user limits may refuse them.
NO_USER_LIMITS = {
    "USER_COOLDOWN_SECONDS": "0",
    "USER_DAILY_LIMIT": "100000",
    "USER_MAX_QUEUED": "1000",
}


def users(discord_api: FakeDiscord, count: int, base: int = 10_000) -> list[dict[str, Any]]:
    return [discord_api.make_user(base + n, f"user{n}") for n in range(count)]


async def acknowledge_latency(workdir: Path, burst: int) -> list[float]:
    """INTERACTION_CREATE sent → deferral received, for `burst` interactions at once."""
    env = {"SEGMIND_RPM": "10000", "USER_MAX_QUEUED": "1000", "SEGMIND_MAX_CONCURRENCY": "4"}
    async with running_bot(workdir, env, latency=0.2) as (discord_api, _, _):
        character = image_bytes(256)
        people = users(discord_api, burst)
        interactions = await asyncio.gather(
            *(pose(discord_api, user=person, character=character) for person in people)
        )
        await asyncio.gather(*(i.wait_for(lambda x: bool(x.callbacks), 60) for i in interactions))
        return [i.acknowledged_after() or math.inf for i in interactions]


async def job_overhead(workdir: Path, jobs: int, latency: float) -> list[float]:
    """Result posted − interaction sent − the fake's generation time, one job at a time."""
    env = {"SEGMIND_RPM": "10000", "USER_MAX_QUEUED": "1000"}
    async with running_bot(workdir, env, latency=latency) as (discord_api, _, _):
        character = image_bytes(1024)
        overheads = []
        for _ in range(jobs):
            interaction = await pose(discord_api, character=character)
            await delivered(interaction, timeout=60)
            overheads.append(time.monotonic() - interaction.sent_at - latency)
        return overheads[1:]  # the first pays for warm-up (imports, first connections)


async def queue_run(
    workdir: Path, *, jobs: int, people: int, concurrency: int, rpm: int, latency: float
) -> dict[str, float]:
    """Makespan of `jobs` from `people` users against the ideal, with the fake at `rpm`."""
    env = {
        "SEGMIND_RPM": str(rpm),
        "SEGMIND_MAX_CONCURRENCY": str(concurrency),
        "USER_MAX_QUEUED": str(jobs),
    }
    async with running_bot(workdir, env, latency=latency, rpm=rpm) as (discord_api, segmind, _):
        character = image_bytes(256)
        crowd = users(discord_api, people)
        interactions = await asyncio.gather(
            *(pose(discord_api, user=crowd[n % people], character=character) for n in range(jobs))
        )
        await asyncio.gather(*(delivered(i, timeout=900) for i in interactions))
        first_start = min(submit.started_at for submit in segmind.submits)
        makespan = time.monotonic() - first_start
        # The fake's own time per request (its sleep plus making the image), as it saw it.
        service = statistics.mean(s.finished_at - s.started_at for s in segmind.submits)
        return {
            "makespan": makespan,
            "ideal": ideal_makespan(jobs, concurrency, rpm, latency),
            "ideal_measured": ideal_makespan(jobs, concurrency, rpm, service),
            "service": service,
            "rate_limited": segmind.rate_limited_count,
        }


def ideal_makespan(jobs: int, concurrency: int, rpm: int, service: float) -> float:
    """The shortest possible time from the first request to the last answer."""
    by_slots = math.ceil(jobs / concurrency) * service
    # A sliding 60 s window lets `rpm` requests through per window, in bursts.
    windows = math.ceil(jobs / rpm) - 1
    last_burst = jobs - windows * rpm
    by_rate = windows * 60 + math.ceil(last_burst / concurrency) * service
    return max(by_slots, by_rate)


async def peak_memory(workdir: Path, jobs: int) -> dict[str, float]:
    """Peak RSS of the bot with `jobs` queued, each from a ~2 MB character image."""
    env = {"SEGMIND_RPM": "1", "SEGMIND_MAX_CONCURRENCY": "1", "USER_MAX_QUEUED": str(jobs)}
    async with running_bot(workdir, env, latency=3600) as (discord_api, _, bot):
        character = image_bytes(1370)
        crowd = users(discord_api, 50)
        batch = 100
        for start in range(0, jobs, batch):
            sent = await asyncio.gather(
                *(
                    pose(discord_api, user=crowd[n % 50], character=character)
                    for n in range(start, min(start + batch, jobs))
                )
            )
            await asyncio.gather(*(accepted(i, timeout=300) for i in sent))
        fields = read_proc_status(bot.pid)
        return {
            "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024,
            "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
            "image_mb": len(character) / 2**20,
        }


def submitted(segmind: FakeSegmind, prompt: str) -> Any:
    """The fake's record of the request carrying `prompt`, once it has arrived."""
    return next((s for s in segmind.submits if s.body and s.body.get("prompt") == prompt), None)


def read_proc_status(pid: int) -> dict[str, str]:
    status = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":", 1) for line in status.splitlines() if ":" in line)


async def single_user_wait(workdir: Path, backlog: int, newcomers: int) -> list[float]:
    """How long a one-job user waits to start while another user has `backlog` queued."""
    latency = 0.5
    env = {"SEGMIND_RPM": "10000", "SEGMIND_MAX_CONCURRENCY": "2", "USER_MAX_QUEUED": "1000"}
    async with running_bot(workdir, env, latency=latency) as (discord_api, segmind, _):
        character = image_bytes(256)
        heavy = discord_api.make_user(1, "heavy")
        backlog_sent = [
            await pose(discord_api, user=heavy, character=character, prompt="backlog")
            for _ in range(backlog)
        ]
        await asyncio.gather(*(accepted(i) for i in backlog_sent))
        waits = []
        for n in range(newcomers):
            person = discord_api.make_user(100 + n, f"newcomer{n}")
            interaction = await pose(
                discord_api, user=person, character=character, prompt=f"newcomer {n}"
            )
            prompt = f"newcomer {n}"
            await discord_api.wait_for(lambda p=prompt: submitted(segmind, p), timeout=60)
            submit = submitted(segmind, prompt)
            assert submit is not None
            waits.append(submit.started_at - interaction.sent_at)
            await asyncio.sleep(latency * 1.5)
        return waits


async def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="posebot-bench-") as scratch:
        root = Path(scratch)

        def workdir(name: str) -> Path:
            path = root / name
            path.mkdir()
            return path

        for burst in (1, 50, 200):
            acks = await acknowledge_latency(workdir(f"ack{burst}"), burst)
            rows.append(
                Row(
                    f"acknowledge, {burst} at once",
                    f"p50 {ms(statistics.median(acks))} / p99 {ms(percentile(acks, 0.99))}",
                    "p99 ≤ 50 ms at 200",
                    f"{len(acks)} interactions",
                )
            )
        overheads = await job_overhead(workdir("overhead"), 11 if quick else 51, latency=0.5)
        rows.append(
            Row(
                "overhead per job (1024×1024)",
                f"p50 {ms(statistics.median(overheads))} / p99 {ms(percentile(overheads, 0.99))}",
                "p99 ≤ 100 ms",
                f"{len(overheads)} jobs one at a time, fake latency 0.5 s",
            )
        )
        scenarios = [
            ("slot-bound", {"concurrency": 8, "rpm": 10_000, "latency": 0.5}),
            ("rate-bound", {"concurrency": 8, "rpm": 150, "latency": 0.5}),
        ]
        for name, params in scenarios[:1] if quick else scenarios:
            result = await queue_run(workdir(name), jobs=300, people=60, **params)
            nominal = result["ideal"] / result["makespan"]
            measured = result["ideal_measured"] / result["makespan"]
            rows.append(
                Row(
                    f"queue efficiency, {name}",
                    f"{nominal:.3f} ({measured:.3f})",
                    "≥ 0.97",
                    f"300 jobs/60 users, C={params['concurrency']}, R={params['rpm']}/min, "
                    f"L={params['latency']} s: {result['makespan']:.1f} s vs ideal "
                    f"{result['ideal']:.1f} s (in brackets: ideal at the fake's measured "
                    f"{result['service'] * 1000:.0f} ms per request)",
                )
            )
            rows.append(
                Row(
                    f"429s received, {name}",
                    str(int(result["rate_limited"])),
                    "0",
                    "the fake enforces the same requests per minute",
                )
            )
        memory = await peak_memory(workdir("memory"), 200 if quick else 1000)
        rows.append(
            Row(
                "peak RSS, queued jobs",
                f"{memory['peak_rss_mb']:.0f} MB",
                "≤ 150 MB",
                f"{200 if quick else 1000} queued, {memory['image_mb']:.1f} MB images; "
                f"RSS at the end {memory['rss_mb']:.0f} MB",
            )
        )
        waits = await single_user_wait(workdir("fair"), backlog=50, newcomers=10)
        rows.append(
            Row(
                "longest wait of a one-job user",
                f"{max(waits):.2f} s",
                "≈ one generation (0.5 s)",
                "10 newcomers while one user has 50 queued, C=2; "
                f"median {statistics.median(waits):.2f} s",
            )
        )
    return rows


def print_table(rows: list[Row]) -> None:
    widths = [max(len(getattr(row, f)) for row in rows) for f in ("measure", "value", "goal")]
    header = ("measure", "value", "goal")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  detail")
    for row in rows:
        cells = (row.measure, row.value, row.goal)
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + row.detail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer jobs, a minute or so")
    parser.add_argument("--json", default="bench-results.json", help="where to write figures")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rows = asyncio.run(run(args.quick))
    print_table(rows)
    Path(args.json).write_text(json.dumps([row.__dict__ for row in rows], indent=2) + "\n")
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
