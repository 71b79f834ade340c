"""Benchmark: the real bot, as child processes, against the fake Discord and fake Segmind.

`make bench` (or `python -m bench.run`) prints a table and writes bench-results.json;
`--quick` is a shorter version for CI. Figures are medians and 99th percentiles over many jobs,
and ratios to a computed ideal: this machine is shared and noisy, so no figure is a pass/fail
test, not even the counts whose goal is 0 (requests lost, refused, paid for twice, answered
twice): the tests are the gate for those. The bench fails (exit status 1) only when a run
cannot finish.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import many_processes, one_process
from bench import storage as bench_storage
from bench.claims import time_claims
from bench.postgres import REQUIRED, PostgresUnavailable, fresh_schema
from bench.quota_decision import LEDGER_ROWS, time_decisions
from bench.sheet import sheet_rows
from bench.table import Row, ms, p50_p99, print_table
from bot.engine.runner import POLL_SECONDS_LISTENING
from bot.settings import Settings

Workdir = Callable[[str], Path]


@dataclass(frozen=True)
class Run:
    name: str  # what its row says if it cannot finish
    rows: Callable[[Workdir, bool], Awaitable[list[Row]]]
    timeout: float  # seconds, for the full run; the quick one stays well inside it


# The quota decision, timed in this process


async def quota_decision(workdir: Workdir, quick: bool) -> list[Row]:
    inserts = 60 if quick else 600
    rows = []
    for database in ("PostgreSQL", "SQLite"):
        for inserters in (1, 3):
            measure = f"quota decision (insert with its locks), {database}, {inserters} at once"
            if database == "PostgreSQL":
                try:
                    async with fresh_schema() as url:
                        seconds = await time_decisions(url, inserts=inserts, inserters=inserters)
                except PostgresUnavailable as error:
                    rows.append(Row(measure, "skipped", "", str(error), failed=REQUIRED))
                    continue
            else:
                path = workdir(f"quotas-{inserters}") / "quotas.db"
                seconds = await time_decisions(
                    f"sqlite:///{path}", inserts=inserts, inserters=inserters
                )
            rows.append(
                Row(
                    measure,
                    p50_p99(seconds),
                    "—",
                    f"{len(seconds)} jobs, every quota set, a ledger of {LEDGER_ROWS} calls",
                )
            )
    return rows


# The bot alone


async def acknowledgements(workdir: Workdir, quick: bool) -> list[Row]:
    rows = []
    for burst in (1, 50, 200):
        acks = await one_process.acknowledge_latency(workdir(f"ack{burst}"), burst)
        rows.append(
            Row(
                f"acknowledge, {burst} at once",
                p50_p99(acks),
                "p99 ≤ 50 ms at 200",
                f"{len(acks)} interactions",
            )
        )
    return rows


async def overhead(workdir: Workdir, quick: bool) -> list[Row]:
    overheads = await one_process.job_overhead(workdir("overhead"), 11 if quick else 51, 0.5)
    return [
        Row(
            "overhead per job (1024×1024)",
            p50_p99(overheads),
            "p99 ≤ 100 ms",
            f"{len(overheads)} jobs one at a time, fake latency 0.5 s",
        )
    ]


@dataclass(frozen=True)
class Load:
    concurrency: int  # SEGMIND_MAX_CONCURRENCY
    rpm: int  # SEGMIND_RPM, and the fake's own limit
    latency: float  # the fake's time per generation

    def __str__(self) -> str:
        return f"C={self.concurrency}, R={self.rpm}/min, L={self.latency} s"


SLOT_BOUND = Load(concurrency=8, rpm=10_000, latency=0.5)
RATE_BOUND = Load(concurrency=8, rpm=150, latency=0.5)


def idle(result: dict[str, Any], load: Load, jobs: int) -> str:
    """When the slots bound the run: how long a slot stood free between an answer and the
    next request, which is where a slot-bound run loses to its ideal."""
    if load.rpm < jobs or not result["slot_idle"]:
        return ""
    return f"; a slot stood free {p50_p99(result['slot_idle'])} before its next request"


async def one_process_queue(workdir: Workdir, quick: bool) -> list[Row]:
    rows = []
    scenarios = [("slot-bound", SLOT_BOUND), ("rate-bound", RATE_BOUND)]
    for name, load in scenarios[:1] if quick else scenarios:
        result = await one_process.queue_run(workdir(name), jobs=300, people=60, **asdict(load))
        nominal = result["ideal"] / result["makespan"]
        measured = result["ideal_measured"] / result["makespan"]
        rows.append(
            Row(
                f"queue efficiency, {name}",
                f"{nominal:.3f} ({measured:.3f})",
                "≥ 0.97",
                f"300 jobs/60 users, {load}: {result['makespan']:.1f} s vs ideal "
                f"{result['ideal']:.1f} s (in brackets: ideal at the fake's measured "
                f"{result['service'] * 1000:.0f} ms per request){idle(result, load, 300)}; "
                f"the bot's CPU {result['cpu_per_job'] * 1000:.1f} ms per job",
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
    return rows


async def memory(workdir: Workdir, quick: bool) -> list[Row]:
    jobs = 200 if quick else 1000
    result = await one_process.peak_memory(workdir("memory"), jobs)
    return [
        Row(
            "peak RSS, queued jobs",
            f"{result['peak_rss_mb']:.0f} MB",
            "≤ 150 MB",
            f"{jobs} queued, {result['image_mb']:.1f} MB images; "
            f"RSS at the end {result['rss_mb']:.0f} MB",
        ),
        await hostile_memory(workdir),
    ]


async def hostile_memory(workdir: Workdir) -> Row:
    found = await one_process.hostile_memory(workdir("hostile"))
    budget = Settings.memory_budget_mb
    return Row(
        "peak RSS with 4 hostile uploads and 2 hostile /pose at once",
        f"{found['peak_rss_mb']:.0f} MB (idle {found['idle_rss_mb']:.0f} MB)",
        f"< MEMORY_BUDGET_MB = {budget:.0f} MB",
        f"4 /character save and 2 /pose at once of a {found['image_kb']:.0f} KiB PNG of "
        f"6320×6320 palette pixels (about 320 MB each to check): one checked at a time within "
        f"the budget; {int(found['saved'])} of 4 saved, both /pose queued",
    )


async def newcomer_wait(workdir: Workdir, quick: bool) -> list[Row]:
    waits = await one_process.single_user_wait(workdir("fair"), backlog=50, newcomers=10)
    return [
        Row(
            "longest wait of a one-job user",
            f"{max(waits):.2f} s",
            "≈ one generation (0.5 s)",
            "10 newcomers while one user has 50 queued, C=2; "
            f"median {statistics.median(waits):.2f} s",
        )
    ]


# The claim transaction, timed in this process


async def claim_transaction(workdir: Workdir, quick: bool) -> list[Row]:
    claims, jobs, people = (300 if quick else 2000), 1000, 100
    rows = []
    for database in ("PostgreSQL", "SQLite"):
        for claimers in (1, 3):
            measure = f"claim transaction, {database}, {claimers} at once"
            if database == "PostgreSQL":
                try:
                    async with fresh_schema() as url:
                        timings = await time_claims(url, claims=claims, claimers=claimers)
                except PostgresUnavailable as error:
                    rows.append(Row(measure, "skipped", "", str(error), failed=REQUIRED))
                    continue
            else:
                path = workdir(f"claims-{claimers}") / "claims.db"
                timings = await time_claims(f"sqlite:///{path}", claims=claims, claimers=claimers)
            made = len(timings.seconds)
            started = (
                "each started a job"
                if timings.started == made
                else f"{timings.started} started a job, {made - timings.started} found the "
                "slot taken"
            )
            rows.append(
                Row(
                    measure,
                    p50_p99(timings.seconds),
                    "—",
                    f"{made} claims, {jobs} queued from {people} users, C=4 with one slot "
                    f"free: {started}; max {ms(max(timings.seconds))}",
                )
            )
    return rows


# Many processes on one PostgreSQL database


def fleet_queue(name: str, load: Load) -> Callable[[Workdir, bool], Awaitable[list[Row]]]:
    async def rows(workdir: Workdir, quick: bool) -> list[Row]:
        jobs, people = (120, 40) if quick else (300, 60)
        found = []
        for workers in (1, 2, 3):
            result = await many_processes.throughput(
                workdir(f"{name}-{workers}"),
                workers=workers,
                jobs=jobs,
                people=people,
                **asdict(load),
            )
            nominal = result["ideal"] / result["makespan"]
            measured = result["ideal_measured"] / result["makespan"]
            per_minute = jobs / result["makespan"] * 60
            ideal_per_minute = jobs / result["ideal"] * 60
            shares = "/".join(str(n) for n in result["per_worker"])
            found.append(
                Row(
                    f"queue efficiency, {name}, {workers} worker{'s' if workers > 1 else ''}",
                    f"{nominal:.3f} ({measured:.3f}), {per_minute:.0f} jobs/min",
                    "≥ 0.95 with 3",
                    f"1 gateway + {workers} on PostgreSQL; {jobs} jobs/{people} users, "
                    f"{load}: {result['makespan']:.1f} s "
                    f"vs ideal {result['ideal']:.1f} s ({ideal_per_minute:.0f} jobs/min); "
                    f"delivered per worker {shares}; most in flight "
                    f"{result['max_in_flight']}; 429s {result['rate_limited']}"
                    f"{idle(result, load, jobs)}",
                )
            )
        return found

    return rows


def span(values: list[float]) -> str:
    low, high = f"{min(values):.1f}", f"{max(values):.1f}"
    return low if low == high else f"{low}–{high}"


async def takeover(workdir: Workdir, quick: bool) -> list[Row]:
    # The full run keeps the default lease (15 s); the quick one shortens it.
    # The fake's latency keeps the generations running until after the kill.
    lease, trials, jobs, latency = (3.0, 1, 4, 10.0) if quick else (None, 3, 4, 15.0)
    stated = lease if lease is not None else Settings.job_lease_seconds
    poll = Settings.segmind_poll_seconds
    # A worker finds expired leases when it next looks at the queue on its own.
    look = POLL_SECONDS_LISTENING
    results = [
        await many_processes.takeover(
            workdir(f"takeover-{n}"), lease=lease, jobs=jobs, latency=latency
        )
        for n in range(trials)
    ]
    taken = [r.taken_over for r in results]
    done = [r.delivered for r in results]
    again = sum(r.submits - r.jobs for r in results)
    lease_left = [r.lease_left for r in results]
    after = [r.taken_over - r.lease_left for r in results]
    generating = "/".join(str(r.generating) for r in results)
    taken_in_log = "/".join(str(r.taken_in_log) for r in results)
    return [
        Row(
            "takeover after kill -9",
            f"{statistics.median(taken):.1f} s, delivered {statistics.median(done):.1f} s",
            f"≤ lease + {look:g} s = {stated + look:.0f} s",
            f"JOB_LEASE_SECONDS={stated:g}; {trials} kill{'s' if trials > 1 else ''} of a worker "
            f"with {jobs} async jobs out at the API (still generating at the kill: "
            f"{generating}; fake latency {latency:g} s, polled every {poll:g} s), another worker "
            f"running; lease left at the kill {span(lease_left)} s, taken over "
            f"{span(after)} s after it ran out; "
            f"worst: taken over {max(taken):.1f} s, delivered {max(done):.1f} s after the kill; "
            f"submitted again: {again}; taken over per the log: {taken_in_log}",
        )
    ]


async def restart_overlap(workdir: Workdir, quick: bool) -> list[Row]:
    queued, latency, latency_after, concurrency = (8 if quick else 16), 3.0, 0.5, 4
    rows = []
    for mode in ("sync", "async"):
        result = await many_processes.restart_overlap(
            workdir(f"overlap-{mode}"),
            mode=mode,
            queued=queued,
            latency=latency,
            latency_after=latency_after,
            concurrency=concurrency,
        )
        counts = (len(result.lost), result.refused, result.paid_twice, result.duplicated)
        lost = f"; lost: {', '.join(sorted(set(result.lost)))}" if result.lost else ""
        rows.append(
            Row(
                f"restart overlap, {mode}",
                "lost {}, refused {}, paid twice {}, duplicated {}".format(*counts),
                "0 each",
                f"`all` process with {queued} requests ({concurrency} running) gets SIGTERM as its "
                f"successor starts: {result.during} more requests during the "
                f"{result.overlap:.1f} s overlap (new one up after {result.new_ready:.1f} s, "
                f"old one gone after {result.old_gone:.1f} s), 2 after; C={concurrency}, "
                f"L={latency:g} s then "
                f"{latency_after:g} s, PostgreSQL; "
                f"no gateway session for {result.no_gateway:.1f} s; exit codes "
                f"{result.exit_codes[0]}/{result.exit_codes[1]}; "
                f"errors logged {result.errors_logged}{lost}",
            )
        )
    return rows


async def storage(workdir: Workdir, quick: bool) -> list[Row]:
    """Bytes per delivered job and the database's size after many jobs (bench/storage.py)."""
    return await bench_storage.storage_rows(quick)


async def chart_drawing(workdir: Workdir, quick: bool) -> list[Row]:
    """The PNG charts of /usage and /admin spend, drawn in a child process (bench/charts.py)."""
    count = 50 if quick else 300
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.charts", str(count), stdout=asyncio.subprocess.PIPE
    )
    output, _ = await child.communicate()
    if child.returncode:
        raise RuntimeError(f"bench.charts exited with {child.returncode}")
    found = json.loads(output)
    rows = []
    for name, measure in (("usage", "/usage"), ("servers", "/admin spend")):
        chart = found[name]
        rows.append(
            Row(
                f"chart of {measure}, 800×400 PNG",
                p50_p99(chart["seconds"]),
                "—",
                f"{count} drawn one after another, Pillow only; PNG {chart['png_bytes'] / 1024:.1f}"
                f" KiB; peak RSS {found['rss_added_mb']:.1f} MB above the "
                f"{found['rss_before_mb']:.0f} MB of the process before drawing (both charts)",
            )
        )
    return rows


async def character_sheet(workdir: Workdir, quick: bool) -> list[Row]:
    """/sheet of 6 panels end to end (bench/sheet.py)."""
    return await sheet_rows(workdir, quick)


async def story_export(workdir: Workdir, quick: bool) -> list[Row]:
    """/story export of a 40-panel story, in a child process (bench/story_export.py)."""
    count = 2 if quick else 15
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.story_export", str(count), stdout=asyncio.subprocess.PIPE
    )
    output, _ = await child.communicate()
    if child.returncode:
        raise RuntimeError(f"bench.story_export exited with {child.returncode}")
    found = json.loads(output)
    budget = Settings.memory_budget_mb
    rows = []
    for name, measure in (
        ("png", "PNG pages, grid 2x2"),
        ("pdf", "PDF, grid 2x2"),
        ("pdf_one_per_page", "PDF, one per page"),
    ):
        export = found[name]
        rows.append(
            Row(
                f"/story export of 40 panels, {measure}",
                p50_p99(export["seconds"]),
                f"< MEMORY_BUDGET_MB = {budget:.0f} MB",
                f"{count} exports one after another of 40 captioned 1024×1024 PNG panels "
                f"({found['panels_mb']:.0f} MB in all): {export['pages']} pages in "
                f"{export['files']} file(s), the largest {export['largest_bytes'] / 2**20:.1f} MB; "
                f"{export['reserved_mb']:.0f} MB reserved from the memory budget; peak RSS "
                f"{found['peak_rss_mb']:.0f} MB for the process (all three exports), "
                f"{found['rss_before_mb']:.0f} MB with the panels loaded before exporting",
            )
        )
    return rows


RUNS = (
    Run("charts", chart_drawing, 120),
    Run("story export", story_export, 600),
    Run("character sheet", character_sheet, 300),
    Run("acknowledge", acknowledgements, 300),
    Run("overhead per job (1024×1024)", overhead, 300),
    Run("queue efficiency, one process", one_process_queue, 600),
    Run("peak RSS, queued jobs", memory, 600),
    Run("longest wait of a one-job user", newcomer_wait, 300),
    Run("claim transaction", claim_transaction, 600),
    Run("quota decision", quota_decision, 300),
    Run("queue efficiency, slot-bound, workers", fleet_queue("slot-bound", SLOT_BOUND), 600),
    Run("queue efficiency, rate-bound, workers", fleet_queue("rate-bound", RATE_BOUND), 900),
    Run("takeover after kill -9", takeover, 600),
    Run("restart overlap", restart_overlap, 600),
    Run("storage", storage, 900),
)
# Runs the quick version leaves out: each waits out whole 60 s rate windows.
NOT_QUICK = {"queue efficiency, rate-bound, workers"}


async def run(quick: bool, only: str | None = None, keep: bool = False) -> list[Row]:
    rows: list[Row] = []
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="posebot-bench-"))
    try:

        def workdir(name: str) -> Path:
            path = root / name
            path.mkdir()
            return path

        for each in RUNS:
            if (quick and each.name in NOT_QUICK) or (only and only not in each.name):
                continue
            started = time.monotonic()
            try:
                rows += await asyncio.wait_for(each.rows(workdir, quick), each.timeout)
            except PostgresUnavailable as error:
                rows.append(Row(each.name, "skipped", "", str(error), failed=REQUIRED))
            except Exception as error:
                traceback.print_exc()
                first_line = (str(error) or type(error).__name__).splitlines()[0]
                rows.append(Row(each.name, "failed", "", first_line, failed=True))
            print(
                f"[{time.monotonic() - began:4.0f} s] {each.name}: "
                f"{time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        if keep:
            print(f"the bot's logs are kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer jobs, a few minutes")
    parser.add_argument("--json", default="bench-results.json", help="where to write figures")
    parser.add_argument("--only", help="only the runs whose name contains this, e.g. takeover")
    parser.add_argument("--keep", action="store_true", help="keep the bot's logs and databases")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    began = time.monotonic()
    rows = asyncio.run(run(args.quick, args.only, args.keep))
    print_table(rows)
    Path(args.json).write_text(json.dumps([row.__dict__ for row in rows], indent=2) + "\n")
    load = " / ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"\nwritten to {args.json}; {time.monotonic() - began:.0f} s in all; load {load}")
    failed = [row.measure for row in rows if row.failed]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
