"""The shared rate-limit gate: one upstream 429 holds back every request until the reset time."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

# Backoff when a 429 says nothing about when to come back.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 120.0


class RateGate:
    """Open until a 429 closes it; reopens by itself at the reset time.

    Waiters are woken in the order they arrived (asyncio.Event keeps that order), so requests
    held back by a 429 go out first-come, first-served.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._open = asyncio.Event()
        self._open.set()
        self._reopen_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._strikes = 0  # 429s in a row without a reset time: drives the backoff

    @property
    def reopens_at(self) -> float | None:
        """Epoch time the gate opens again, or None when it is open."""
        return None if self._open.is_set() else self._reopen_at

    def close(self, retry_at: float | None) -> float:
        """Close until `retry_at` (or a backoff when unknown); return when it reopens."""
        now = self._clock()
        if retry_at is None:
            delay = min(BACKOFF_BASE_SECONDS * 2**self._strikes, BACKOFF_MAX_SECONDS)
            retry_at = now + delay * random.uniform(0.75, 1.25)
            self._strikes += 1
        if self._open.is_set() or retry_at > self._reopen_at:
            self._reopen_at = retry_at
            self._open.clear()
            if self._timer is not None:
                self._timer.cancel()
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, retry_at - now), self._reopen)
        return self._reopen_at

    def succeeded(self) -> None:
        """A request got through: the next unexplained 429 starts the backoff afresh."""
        self._strikes = 0

    async def wait_open(self) -> None:
        await self._open.wait()

    def _reopen(self) -> None:
        self._timer = None
        self._open.set()
