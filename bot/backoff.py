"""Waiting longer after each failure: from a base, doubling, to a ceiling, and the one loop that
tries something again while its errors are worth retrying."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]


class Backoff:
    """The delays between tries: `base`, then doubled each time up to `maximum`; `jitter` spreads
    each by ± that fraction, so that processes failing together do not retry together."""

    def __init__(
        self,
        base: float,
        maximum: float,
        *,
        jitter: float = 0.0,
        sleep: Sleep = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.base = base
        self.maximum = maximum
        self.jitter = jitter
        self.sleep = sleep
        self._uniform = uniform
        self._next = base

    def next_delay(self) -> float:
        """The delay before the next try (jittered), and the one after it doubled."""
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        if self.jitter:
            delay *= self._uniform(1 - self.jitter, 1 + self.jitter)
        return delay

    def reset(self) -> None:
        """A success: the next failure waits `base` again."""
        self._next = self.base

    async def wait(self) -> float:
        """Sleep the next delay; returns it."""
        delay = self.next_delay()
        await self.sleep(delay)
        return delay


async def retry(
    attempt: Callable[[], Awaitable[T]],
    backoff: Backoff,
    *,
    retry_if: Callable[[Exception], bool] = lambda error: True,
    tries: int | None = None,
    give_up_at: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_retry: Callable[[Exception, float], None] | None = None,
) -> T:
    """`attempt()` until it succeeds; an error that `retry_if` refuses, the last of `tries`, or
    one whose next wait would end past `give_up_at` (by `clock`) is raised. `on_retry` hears
    each error retried and the delay before the next try (to log it)."""
    tried = 0
    while True:
        tried += 1
        try:
            return await attempt()
        except Exception as error:
            if not retry_if(error) or (tries is not None and tried >= tries):
                raise
            delay = backoff.next_delay()
            if give_up_at is not None and clock() + delay > give_up_at:
                raise
            if on_retry is not None:
                on_retry(error, delay)
            await backoff.sleep(delay)
