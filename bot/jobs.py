"""Keeps the running generations, so a shutdown can stop intake and wait for them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class JobTracker:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepting = True

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, job: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run `job` in the background, kept referenced until it ends, its failure logged."""
        task = asyncio.create_task(job, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("job %s crashed", task.get_name(), exc_info=task.exception())

    async def shutdown(self, grace: float, notice: float = 5.0) -> None:
        """Refuse new jobs, give running ones `grace` seconds, then cancel the rest.

        Cancelled jobs get `notice` more seconds to tell their users what happened.
        """
        self.accepting = False
        if not self._tasks:
            return
        log.info("waiting up to %.0fs for %d running generation(s)", grace, len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        if not pending:
            return
        log.warning("cancelling %d generation(s) that did not finish in time", len(pending))
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=notice)
