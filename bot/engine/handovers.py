"""Results that free API slots at about the same moment are stored in one transaction, with
one claim for every slot they free.

Jobs started together end together (the API takes about as long for each), and each stored
result hands its slot on in the transaction that stores it (`SharedQueue.claim_after`). One
at a time, the last of eight such results waited for the seven transactions before it while
its slot stood free. Here, whoever gets the claim's turn stores every result that is waiting
by then, and the claim that ends that transaction starts as many jobs as slots were freed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.storage.database import Executor, Work, is_connection_lost

T = TypeVar("T")
_Waiting = tuple[Work[Any], "asyncio.Future[Any]"]


class Handovers:
    """`run(work)`: `work` and a claim in one transaction, shared with the works of the same
    moment. `lock` is the claims' turn in this process; `hand_over(works)` runs a work and the
    claim after it (and starts what the claim gave)."""

    def __init__(
        self, lock: asyncio.Lock, hand_over: Callable[[Work[list[Any]]], Awaitable[list[Any]]]
    ) -> None:
        self._lock = lock
        self._hand_over = hand_over
        self._waiting: list[_Waiting] = []

    async def run(self, work: Work[T]) -> T:
        outcome: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        # An outcome whose waiter was cut off (a shutdown) is read by nobody: no warning.
        outcome.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._waiting.append((work, outcome))
        while not outcome.done():
            async with self._lock:
                if not outcome.done():
                    await self._run_waiting(outcome)
        return outcome.result()

    async def _run_waiting(self, own: asyncio.Future[Any]) -> None:
        batch, self._waiting = self._waiting, []
        try:
            await self._run_together(batch)
        except BaseException:
            # Cut off: the others' results, paid for, are stored by the next of them to get
            # the turn (each still waits for it). This one's job is given back as before.
            others = [(work, outcome) for work, outcome in batch if outcome is not own]
            self._waiting[:0] = [entry for entry in others if not entry[1].done()]
            raise

    async def _run_together(self, batch: list[_Waiting]) -> None:
        async def together(tx: Executor) -> list[Any]:
            return [await work(tx) for work, _ in batch]

        try:
            results = await self._hand_over(together)
        except Exception as error:
            if len(batch) == 1 or is_connection_lost(error):
                for _, outcome in batch:
                    outcome.set_exception(error)
                return
            # One work failed them all (the transaction was rolled back): each alone, so
            # that each hears its own outcome.
            for entry in batch:
                await self._run_together([entry])
            return
        for (_, outcome), result in zip(batch, results, strict=True):
            outcome.set_result(result)
