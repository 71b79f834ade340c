"""Turns at SQLite's one connection: what a paid API slot waits on goes first.

A process on SQLite runs every statement on one connection, one at a time. During a burst of
requests, each request's reads and its store queue up there, and a job that has just freed an
API slot (its result stored, the next job claimed, that job's images read) would wait behind
all of them while the slot, the scarce thing, stands idle. The tasks of a job's life and of
the dispatcher say so (`on_the_paid_path`), and their statements take the next turn.
PostgreSQL has a pool of connections and needs none of this.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from types import TracebackType

_PAID_PATH: contextvars.ContextVar[bool] = contextvars.ContextVar("paid_path", default=False)


def on_the_paid_path() -> None:
    """Mark the current task (and the tasks it starts) as work an API slot waits on."""
    _PAID_PATH.set(True)


def off_the_paid_path() -> None:
    """The current task's work no longer holds up an API slot (its result is posted): what it
    stores from now on takes its turn with everyone else's."""
    _PAID_PATH.set(False)


class Turns:
    """A lock, as asyncio.Lock, whose waiters on the paid path go first: in the order they
    came among themselves, and the others in theirs. Nothing else waits long for it: the
    paid path holds at most a few short transactions per API slot."""

    def __init__(self) -> None:
        self._held = False
        self._paid: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if not self._held and not self._paid and not self._others:
            self._held = True
            return
        turn = asyncio.get_running_loop().create_future()
        waiting = self._paid if _PAID_PATH.get() else self._others
        waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._hand_on()  # given the turn just as it was cancelled
            elif turn in waiting:
                waiting.remove(turn)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._hand_on()

    def _hand_on(self) -> None:
        """The next waiter's turn (the lock stays held), or the lock free if none waits."""
        for waiting in (self._paid, self._others):
            while waiting:
                turn = waiting.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._held = False
