"""Background tasks that are never lost: kept referenced, their failures logged, loops restarted.

asyncio keeps only a weak reference to a task, and an exception in a task nobody awaits is
reported, if at all, when it is garbage-collected. Every task the bot starts itself goes
through here instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bot.backoff import Backoff

log = logging.getLogger(__name__)

# A loop that failed waits this long before it runs again, doubling up to the maximum.
RESTART_BASE_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0


class TaskGroup:
    """Tasks started in the background, each kept until it ends; `close` cancels them all."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def supervise(self, loop: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        """Run `loop` for as long as the group lives, starting it again whenever it fails."""
        self.spawn(_restarting(loop, name), name)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self, timeout: float = 5.0) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


async def _restarting(loop: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
    backoff = Backoff(RESTART_BASE_SECONDS, RESTART_MAX_SECONDS)
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            delay = backoff.next_delay()
            log.exception("%s failed; restarting it in %.1fs", name, delay)
            await backoff.sleep(delay)
