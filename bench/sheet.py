"""A character's sheet of 6 end to end, the bot as a child process against the fakes: from
Confirm to the composed sheet in the channel, against 6 generations at the configured
concurrency and rate."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench.one_process import running_bot
from bench.table import Row, p50_p99
from bench.workload import ideal_makespan
from bot.domain.images import prepare_reference
from bot.settings import Settings
from bot.storage.character_store import CharacterStore
from bot.storage.database import connect
from bot.storage.job_store import JobStore
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.user_actions import png

PANELS = 6


async def _save_character(database_url: str) -> None:
    store = JobStore(await connect(database_url))
    try:
        await store.migrate()
        image = prepare_reference(png((300, 300), (200, 30, 30)))
        await CharacterStore(store.database, max_per_user=25).save(
            owner_id=FakeDiscord.DEFAULT_USER_ID,
            guild_id=FakeDiscord.GUILD_ID,
            name="Aria",
            description="a girl with red hair and a green coat",
            shared=False,
            image_format=image.format,
            width=image.width,
            height=image.height,
            data=image.data,
            now=time.time(),
        )
    finally:
        await store.close()


def _sheets(discord_api: FakeDiscord) -> list[FakeMessage]:
    return [m for m in discord_api.channel_messages if m.files and "sheet" in (m.content or "")]


async def one_sheet(workdir: Path, latency: float) -> float:
    """Seconds from the Confirm to the sheet posted."""
    await _save_character(f"sqlite:///{workdir / 'bench.db'}")
    async with running_bot(workdir, {"SEGMIND_RPM": "600"}, latency=latency) as (discord_api, _, _):
        asked = await discord_api.invoke(
            "sheet",
            [
                {"name": "character", "type": 3, "value": "Aria"},
                {"name": "kind", "type": 3, "value": "expressions"},
            ],
        )
        await asked.wait_for(lambda i: any(m.components for m in i.messages()), timeout=60)
        [question] = [m for m in asked.messages() if m.components]
        confirm = next(
            button["custom_id"]
            for row in question.components
            for button in row["components"]
            if button.get("label") == "Confirm"
        )
        started = time.perf_counter()
        await discord_api.press(question, confirm)
        await discord_api.wait_for(lambda: bool(_sheets(discord_api)), timeout=120)
        return time.perf_counter() - started


async def sheet_rows(workdir: Callable[[str], Path], quick: bool) -> list[Row]:
    """`workdir(name)` is a fresh directory for each run."""
    trials, latency = (1, 1.0) if quick else (3, 3.0)
    seconds = [await one_sheet(workdir(f"sheet-{n}"), latency) for n in range(trials)]
    concurrency = Settings.segmind_max_concurrency
    ideal = ideal_makespan(PANELS, concurrency, 600, latency)
    # The fair order runs one job of a user at a time: a sheet alone takes its panels in turn.
    serial = PANELS * latency
    return [
        Row(
            f"/sheet of {PANELS} panels: Confirm to the composed sheet",
            p50_p99(seconds),
            f"≈ {serial:.1f} s (one at a time)",
            f"{trials} sheet(s), generations of {latency:.1f} s; {PANELS} generations at "
            f"concurrency {concurrency} would take {ideal:.1f} s, but a user has one job "
            "running at a time (bot/domain/fairness.py)",
        )
    ]
