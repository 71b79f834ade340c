"""What the benchmark sends the bot (users, images, settings) and the best it could do with it."""

from __future__ import annotations

import heapq
import io
import math
from collections.abc import Callable, Iterable
from typing import Any

from PIL import Image

from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.user_actions import answered, ended, result_of, taken

# The bench plays a crowd of heavy users: none of the per-user limits may refuse them.
NO_USER_LIMITS = {
    "USER_COOLDOWN_SECONDS": "0",
    "USER_DAILY_LIMIT": "100000",
    "USER_MAX_QUEUED": "1000",
}


def image_bytes(side: int) -> bytes:
    """A noisy JPEG: noise is the worst case for decoding, re-encoding and storage.

    At 1024 px it is about 1.1 MB, at 1370 px about 2 MB.
    """
    picture = Image.merge("RGB", [Image.effect_noise((side, side), 40 + 20 * n) for n in range(3)])
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def hostile_png() -> bytes:
    """A 4 KiB PNG of 6320×6320 palette pixels: under the 40-megapixel limit, and about
    320 MB to check once decoded and converted."""
    buffer = io.BytesIO()
    Image.new("P", (6320, 6320)).save(buffer, "PNG")
    return buffer.getvalue()


def users(discord_api: FakeDiscord, count: int, base: int = 10_000) -> list[dict[str, Any]]:
    return [discord_api.make_user(base + n, f"user{n}") for n in range(count)]


def ideal_makespan(jobs: int, concurrency: int, rpm: int, service: float) -> float:
    """The shortest possible time from the first request to the last answer."""
    by_slots = math.ceil(jobs / concurrency) * service
    # A sliding 60 s window lets `rpm` requests through per window, in bursts.
    windows = math.ceil(jobs / rpm) - 1
    last_burst = jobs - windows * rpm
    by_rate = windows * 60 + math.ceil(last_burst / concurrency) * service
    return max(by_slots, by_rate)


def slot_idle(spans: list[tuple[float, float]], concurrency: int) -> list[float]:
    """How long an API slot stayed free before each request took it, from the (start, end) of
    every request: each request takes the slot freed earliest; the first `concurrency` take
    slots free from the first start."""
    if not spans:
        return []
    ordered = sorted(spans)
    free = [ordered[0][0]] * concurrency  # when each free slot became free, earliest first
    busy: list[float] = []  # when each request in flight ends
    idle = []
    for start, end in ordered:
        while busy and busy[0] <= start:
            heapq.heappush(free, heapq.heappop(busy))
        if free:
            idle.append(start - heapq.heappop(free))
        heapq.heappush(busy, end)
    return idle[concurrency:]


async def every(
    discord_api: FakeDiscord,
    interactions: Iterable[FakeInteraction],
    condition: Callable[[FakeInteraction], bool],
    timeout: float,
) -> None:
    """Wait until `condition` holds for every interaction, with one waiter for them all: a
    waiter per interaction would be woken at each of the fake's changes, hundreds at a time,
    on the loop that also answers the bot (and serves the fake Segmind), and the figures
    would be the bench's own load."""
    pending = list(interactions)

    def all_hold() -> bool:
        pending[:] = [interaction for interaction in pending if not condition(interaction)]
        return not pending

    await discord_api.wait_for(all_hold, timeout)


async def all_delivered(
    discord_api: FakeDiscord, interactions: list[FakeInteraction], timeout: float
) -> None:
    """Every request ended with its result."""
    await every(discord_api, interactions, ended, timeout)
    failed = [i for i in interactions if result_of(i) is None]
    assert not failed, f"{len(failed)} request(s) ended without a result: {failed[0].describe()}"


async def all_accepted(
    discord_api: FakeDiscord, interactions: list[FakeInteraction], timeout: float
) -> None:
    """Every request is in the queue (or past it)."""
    await every(discord_api, interactions, answered, timeout)
    refused = [i for i in interactions if not taken(i)]
    assert not refused, f"{len(refused)} request(s) refused: {refused[0].describe()}"
