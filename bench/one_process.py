"""The bot as one child process against the fake Discord and fake Segmind: how fast it
acknowledges, what a job costs beyond the API's own time, how well it fills the API's slots and
rate, its memory with a long queue, and how long a newcomer waits behind a heavy user."""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench.workload import (
    NO_USER_LIMITS,
    all_accepted,
    all_delivered,
    every,
    hostile_png,
    ideal_makespan,
    image_bytes,
    slot_idle,
    users,
)
from tests.bot_process import BotProcess
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import accepted, delivered, pose


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


async def acknowledge_latency(workdir: Path, burst: int) -> list[float]:
    """INTERACTION_CREATE sent → deferral received, for `burst` interactions at once."""
    env = {"SEGMIND_RPM": "10000", "SEGMIND_MAX_CONCURRENCY": "4"}
    async with running_bot(workdir, env, latency=0.2) as (discord_api, _, _):
        character = image_bytes(256)
        people = users(discord_api, burst)
        interactions = await asyncio.gather(
            *(pose(discord_api, user=person, character=character) for person in people)
        )
        await every(discord_api, interactions, lambda i: bool(i.callbacks), 60)
        return [i.acknowledged_after() or math.inf for i in interactions]


async def job_overhead(workdir: Path, jobs: int, latency: float) -> list[float]:
    """Result posted − interaction sent − the fake's generation time, one job at a time."""
    env = {"SEGMIND_RPM": "10000"}
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
) -> dict[str, Any]:
    """Makespan of `jobs` from `people` users against the ideal, with the fake at `rpm`."""
    env = {"SEGMIND_RPM": str(rpm), "SEGMIND_MAX_CONCURRENCY": str(concurrency)}
    async with running_bot(workdir, env, latency=latency, rpm=rpm) as (discord_api, segmind, bot):
        character = image_bytes(256)
        crowd = users(discord_api, people)
        cpu_before = cpu_seconds(bot.pid)
        interactions = await asyncio.gather(
            *(pose(discord_api, user=crowd[n % people], character=character) for n in range(jobs))
        )
        await all_delivered(discord_api, interactions, timeout=900)
        first_start = min(submit.started_at for submit in segmind.submits)
        makespan = time.monotonic() - first_start
        cpu = cpu_seconds(bot.pid) - cpu_before
        # The fake's own time per request (its sleep plus making the image), as it saw it.
        service = statistics.mean(s.finished_at - s.started_at for s in segmind.submits)
        return {
            "makespan": makespan,
            "ideal": ideal_makespan(jobs, concurrency, rpm, latency),
            "ideal_measured": ideal_makespan(jobs, concurrency, rpm, service),
            "service": service,
            "rate_limited": segmind.rate_limited_count,
            "slot_idle": slot_idle(
                [(s.started_at, s.finished_at) for s in segmind.submits], concurrency
            ),
            "cpu_per_job": cpu / jobs,
        }


async def peak_memory(workdir: Path, jobs: int) -> dict[str, float]:
    """Peak RSS of the bot with `jobs` queued, each from a ~2 MB character image."""
    env = {"SEGMIND_RPM": "1", "SEGMIND_MAX_CONCURRENCY": "1"}
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
            await all_accepted(discord_api, sent, timeout=300)
        fields = read_proc_status(bot.pid)
        return {
            "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024,
            "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
            "image_mb": len(character) / 2**20,
        }


async def hostile_memory(workdir: Path) -> dict[str, float]:
    """Peak RSS of the bot (MEMORY_BUDGET_MB at its default) when four /character save and
    two /pose of a hostile image arrive at once, and its RSS idle just before."""
    env = {"SEGMIND_RPM": "10000"}
    async with running_bot(workdir, env, latency=0.2) as (discord_api, _, bot):
        idle = int(read_proc_status(bot.pid)["VmRSS"].split()[0]) / 1024
        image = hostile_png()
        crowd = users(discord_api, 6)
        saves = await asyncio.gather(
            *(save_character(discord_api, crowd[n], f"giant{n}", image) for n in range(4)),
        )
        poses = await asyncio.gather(
            *(pose(discord_api, user=crowd[4 + n], character=image) for n in range(2))
        )
        await asyncio.gather(
            *(s.wait_for(lambda i: bool(i.original and i.original.content), 300) for s in saves),
            *(accepted(i, timeout=300) for i in poses),
        )
        taken = sum((s.original.content or "").startswith("Saved") for s in saves if s.original)
        fields = read_proc_status(bot.pid)
        return {
            "idle_rss_mb": idle,
            "peak_rss_mb": int(fields["VmHWM"].split()[0]) / 1024,
            "saved": taken,
            "image_kb": len(image) / 1024,
        }


async def save_character(
    discord_api: FakeDiscord, user: dict[str, Any], name: str, image: bytes
) -> FakeInteraction:
    """/character save, as a user types it, with `image` attached."""
    attachment = discord_api.add_attachment(f"{name}.png", image, "image/png")
    options = [
        {"name": "name", "type": 3, "value": name},
        {"name": "image", "type": 11, "value": attachment["id"]},
    ]
    return await discord_api.invoke(
        "character", options, subcommand="save", user=user, attachments=[attachment]
    )


def submitted(segmind: FakeSegmind, prompt: str) -> Any:
    """The fake's record of the request carrying `prompt`, once it has arrived."""
    return next((s for s in segmind.submits if s.body and s.body.get("prompt") == prompt), None)


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, every thread's, user and system (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_proc_status(pid: int) -> dict[str, str]:
    status = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":", 1) for line in status.splitlines() if ":" in line)


async def single_user_wait(workdir: Path, backlog: int, newcomers: int) -> list[float]:
    """How long a one-job user waits to start while another user has `backlog` queued."""
    latency = 0.5
    env = {"SEGMIND_RPM": "10000", "SEGMIND_MAX_CONCURRENCY": "2"}
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
