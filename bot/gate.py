"""The shared rate-limit gate: one upstream 429 holds back every request until the reset time."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

# Backoff when a 429 says nothing about when to come back.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 120.0


class RateGate:
    """Open until a 429 closes it; open again once the clock passes the reset time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._reopen_at = 0.0
        self._strikes = 0  # 429s in a row without a reset time: drives the backoff

    @property
    def reopens_at(self) -> float | None:
        """Epoch time the gate opens again, or None when it is open."""
        return self._reopen_at if self._reopen_at > self._clock() else None

    def close(self, retry_at: float | None) -> float:
        """Close until `retry_at` (or a backoff when unknown); return when it reopens."""
        if retry_at is None:
            delay = min(BACKOFF_BASE_SECONDS * 2**self._strikes, BACKOFF_MAX_SECONDS)
            retry_at = self._clock() + delay * random.uniform(0.75, 1.25)
            self._strikes += 1
        self._reopen_at = max(self._reopen_at, retry_at)
        return self._reopen_at

    def succeeded(self) -> None:
        """A request got through: the next unexplained 429 starts the backoff afresh."""
        self._strikes = 0
