"""The retry helper: its delays double from the base to the ceiling, and it tries again only
what it is told to, as often and as long as it is allowed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.backoff import Backoff, retry


class Sleeps:
    """An injected sleep that only records, and the clock it moves."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.now = 0.0

    async def __call__(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += delay

    def clock(self) -> float:
        return self.now


def failing(times: int, error: Exception) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return calls, attempt


def test_delays_double_from_the_base_to_the_ceiling_and_start_again_after_a_reset() -> None:
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_jitter_spreads_each_delay_by_its_fraction() -> None:
    backoff = Backoff(2.0, 8.0, jitter=0.2, uniform=lambda low, high: high)
    assert backoff.next_delay() == pytest.approx(2.4)


async def test_a_retried_error_is_tried_again_after_each_delay() -> None:
    sleeps = Sleeps()
    calls, attempt = failing(3, ConnectionError("lost"))
    assert await retry(attempt, Backoff(0.5, 1.0, sleep=sleeps)) == "done"
    assert sleeps.slept == [0.5, 1.0, 1.0]
    assert len(calls) == 4


async def test_an_error_the_predicate_refuses_is_raised_at_once() -> None:
    sleeps = Sleeps()
    calls, attempt = failing(3, ValueError("wrong"))
    with pytest.raises(ValueError, match="wrong"):
        await retry(
            attempt,
            Backoff(0.5, 1.0, sleep=sleeps),
            retry_if=lambda error: isinstance(error, ConnectionError),
        )
    assert (len(calls), sleeps.slept) == (1, [])


async def test_the_last_of_its_tries_raises() -> None:
    sleeps = Sleeps()
    calls, attempt = failing(10, ConnectionError("lost"))
    with pytest.raises(ConnectionError):
        await retry(attempt, Backoff(1.0, 4.0, sleep=sleeps), tries=3)
    assert (len(calls), sleeps.slept) == (3, [1.0, 2.0])


async def test_a_wait_that_would_end_past_the_deadline_is_not_made() -> None:
    sleeps = Sleeps()
    calls, attempt = failing(10, ConnectionError("lost"))
    heard: list[float] = []
    with pytest.raises(ConnectionError):
        await retry(
            attempt,
            Backoff(1.0, 60.0, sleep=sleeps),
            give_up_at=10.0,
            clock=sleeps.clock,
            on_retry=lambda error, delay: heard.append(delay),
        )
    assert sleeps.slept == [1.0, 2.0, 4.0]  # 7 s; the next 8 s would end at 15 s
    assert heard == sleeps.slept
    assert len(calls) == 4
