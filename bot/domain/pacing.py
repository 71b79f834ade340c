"""Requests per minute, counted the way the API counts them: over a sliding 60 s window."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

WINDOW_SECONDS = 60.0
# Our clock and the API's disagree by the network's delay: keep a little slack at the edge.
SLACK_SECONDS = 0.5
_SPAN = WINDOW_SECONDS + SLACK_SECONDS


class RatePacer:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self._limit = per_minute
        self._clock = clock
        self._sent: deque[float] = deque()

    @classmethod
    def from_history(
        cls, per_minute: int, sent: Iterable[float], clock: Callable[[], float] = time.time
    ) -> RatePacer:
        """A pacer that knows the requests already sent (by any process), oldest first."""
        pacer = cls(per_minute, clock)
        pacer._sent.extend(sorted(sent))
        return pacer

    def next_free(self) -> float:
        """The earliest time the next request may go out."""
        return self.send_time(1)

    def send_time(self, position: int) -> float:
        """When the request `position` places from now (1 = next) may go out, at the earliest."""
        now = self._clock()
        while self._sent and self._sent[0] <= now - _SPAN:
            self._sent.popleft()
        recent = len(self._sent)
        # Counting the recent requests and the ones ahead, this is request number `index`.
        # It must wait for the one `limit` places before it to leave the window, and that
        # one, if it is still to come, for the one `limit` places before it, and so on.
        index = recent + position
        ceiling = max(recent, self._limit)
        windows = -(-(index - ceiling) // self._limit) if index > ceiling else 0
        earlier = index - windows * self._limit
        start = self._sent[earlier - 1] if earlier <= recent else now
        return max(now, start + windows * _SPAN)

    def record(self) -> None:
        self._sent.append(self._clock())
