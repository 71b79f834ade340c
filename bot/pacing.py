"""Requests per minute, counted the way the API counts them: over a sliding 60 s window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
# Our clock and the API's disagree by the network's delay: keep a little slack at the edge.
SLACK_SECONDS = 0.5
_SPAN = WINDOW_SECONDS + SLACK_SECONDS


class RatePacer:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self._limit = per_minute
        self._clock = clock
        self._sent: deque[float] = deque()

    def next_free(self) -> float:
        """The earliest time the next request may go out."""
        return self.send_time(1)

    def send_time(self, position: int) -> float:
        """When the request `position` places from now (1 = next) may go out, at the earliest."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - _SPAN:
            self._sent.popleft()
        recent = len(self._sent)
        # The request must wait for the one `limit` places before it to leave the window.
        before = recent + position - self._limit
        if before <= 0:
            return now
        if before <= recent:
            return self._sent[before - 1] + _SPAN
        return self.send_time(before - recent) + _SPAN

    def record(self) -> None:
        self._sent.append(self._clock())
