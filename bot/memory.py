"""The process's memory: one budget that every image download and decode reserves from, the
allocator setting that gives freed image buffers back to the system, and how often Python looks
for reference cycles.

glibc serves large allocations with mmap and gives them back on free, but after the first such
block is freed it raises its threshold (up to 32 MiB), and later image buffers then come from
the heap, where they stay as fragments. Fixing the threshold keeps every image buffer returnable:
in the benchmark, peak memory with 1000 queued jobs fell from about 150 MB to about 115 MB.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value
MB = 2**20
# What the process takes besides the images it decodes: about 65 MB idle, about 112 MB with
# 200 jobs queued (bench/run.py), plus results in flight, charts and the pages' thumbnails.
PROCESS_RESERVE_MB = 160
# Python looks for reference cycles after every 700 objects left standing and walks the whole
# heap after every 100 such looks: a burst of requests sets off that full walk (40–60 ms, all
# of it on the event loop) while their deferrals are on their way. Looking after 10,000 and
# walking everything 40 times less often took it out of a burst of 200 (bench/run.py:
# acknowledge p99 about 180 ms instead of 230). Nearly all memory is freed by reference counts
# as before; only objects caught in cycles wait longer.
CYCLE_COLLECTION_THRESHOLDS = (10_000, 20, 20)


class OverBudget(Exception):
    """A reservation larger than the whole budget: it could never be granted."""

    def __init__(self, wanted: int, total: int) -> None:
        super().__init__(f"{wanted} bytes wanted, the budget is {total} bytes")
        self.wanted = wanted
        self.total = total


class MemoryBudget:
    """Bytes that image downloads and decodes may hold at once in this process. Each reserves
    what it will hold before it starts and gives it back when done; a reservation that does
    not fit now waits its turn (first come, first served, so a large image is not starved by
    small ones), and one larger than the whole budget raises OverBudget at once."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes
        self._held = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @classmethod
    def for_process(cls, memory_budget_mb: float) -> MemoryBudget:
        """The share of MEMORY_BUDGET_MB left for images once the process's own is set aside."""
        return cls(int((memory_budget_mb - PROCESS_RESERVE_MB) * MB))

    @property
    def held(self) -> int:
        return self._held

    @asynccontextmanager
    async def reserve(self, amount: int) -> AsyncIterator[None]:
        """Hold `amount` bytes for the body of the `async with`."""
        if amount > self.total:
            raise OverBudget(amount, self.total)
        if not self._waiting and self._held + amount <= self.total:
            self._held += amount
        else:
            entry = (amount, asyncio.get_running_loop().create_future())
            self._waiting.append(entry)
            try:
                await entry[1]
            except asyncio.CancelledError:
                if entry[1].done() and not entry[1].cancelled():
                    self._release(amount)  # granted at the moment it was cancelled
                else:
                    if entry in self._waiting:  # unless a release already passed it over
                        self._waiting.remove(entry)
                    self._grant()  # whoever waited behind it may fit now
                raise
        try:
            yield
        finally:
            self._release(amount)

    def reserve_checked(self, amount: int) -> AbstractAsyncContextManager[None]:
        """`reserve` for an image already checked, so never refused: at worst it waits until it
        has the whole budget to itself."""
        return self.reserve(min(amount, self.total))

    def _release(self, amount: int) -> None:
        self._held -= amount
        self._grant()

    def _grant(self) -> None:
        """Hand the freed bytes to those waiting, in the order they came."""
        while self._waiting and self._held + self._waiting[0][0] <= self.total:
            amount, future = self._waiting.popleft()
            if future.done():
                continue
            self._held += amount
            future.set_result(None)


def collect_cycles_less_often() -> None:
    gc.set_threshold(*CYCLE_COLLECTION_THRESHOLDS)


def return_large_buffers_to_the_system() -> bool:
    """Fix glibc's mmap threshold; False where the C library is not glibc (nothing to do)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
