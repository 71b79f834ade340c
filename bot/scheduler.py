"""Runs generations: at most N in flight, all held back together while the API rate-limits us."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from bot.gate import RateGate
from bot.segmind import Generation, RateLimited, SegmindClient

log = logging.getLogger(__name__)


class Progress(Protocol):
    """What the requester is shown while a generation waits and runs."""

    async def waiting_for_slot(self) -> None: ...

    async def waiting_for_api(self, until: float) -> None: ...

    async def generating(self) -> None: ...


class WaitTooLong(Exception):
    """The API's rate limit would hold this job past the allowed wait; `until` is the reset."""

    def __init__(self, until: float) -> None:
        super().__init__(f"rate limited until {until:.0f}")
        self.until = until


class Scheduler:
    def __init__(
        self,
        client: SegmindClient,
        *,
        max_concurrency: int,
        max_wait: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._slots = asyncio.Semaphore(max_concurrency)
        self._max_wait = max_wait
        self._clock = clock
        self.gate = RateGate(clock)
        self.in_flight = 0

    async def run(self, body: dict[str, Any], progress: Progress) -> Generation:
        """Generate once; a 429 is waited out (never billed), every other error is raised."""
        started = self._clock()
        self._check_wait(started)
        if self._slots.locked():
            await progress.waiting_for_slot()
        async with self._slots:
            while True:
                reopens_at = self._check_wait(started)
                if reopens_at is not None:
                    await progress.waiting_for_api(reopens_at)
                    await self.gate.wait_open()
                    continue  # another 429 may have closed it again meanwhile
                await progress.generating()
                try:
                    generation = await self._call(body)
                except RateLimited as limited:
                    until = self.gate.close(limited.retry_at)
                    log.warning("segmind answered 429; holding all requests until %.0f", until)
                    continue
                self.gate.succeeded()
                return generation

    async def _call(self, body: dict[str, Any]) -> Generation:
        self.in_flight += 1
        try:
            return await self._client.generate(body)
        finally:
            self.in_flight -= 1

    def _check_wait(self, started: float) -> float | None:
        """The gate's reopening time, after making sure this job may wait that long."""
        reopens_at = self.gate.reopens_at
        if reopens_at is not None and reopens_at - started > self._max_wait:
            raise WaitTooLong(reopens_at)
        return reopens_at
