"""Snapshots of the queue for new cards, one read shared by every request of a burst.

A new job's card shows its place, which takes a snapshot of the whole queue (every queued job,
in fair order). Read once per request, a burst of 300 requests read the queue 300 times, each
time a longer one, on the event loop and the database that the paid calls share. Here a
request joins the next read to start: it sees the job the request has just stored, and the
requests that arrive while it runs share the one after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.storage.job_queue import Snapshot
from bot.tasks import TaskGroup


class SharedSnapshots:
    """`fresh()`: a snapshot read that started after the call, shared with the callers of the
    same moment. Reads run one at a time, in their own tasks (a caller that goes away leaves
    the others theirs)."""

    def __init__(self, read: Callable[[], Awaitable[Snapshot]], tasks: TaskGroup) -> None:
        self._read = read
        self._tasks = tasks
        self._one_at_a_time = asyncio.Lock()
        self._next: asyncio.Future[Snapshot] | None = None  # the read that starts next

    async def fresh(self) -> Snapshot:
        shared = self._next
        if shared is None:
            shared = self._next = asyncio.get_running_loop().create_future()
            # Read by nobody when every caller went away: no warning for its error then.
            shared.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._tasks.spawn(self._read_into(shared), "queue-snapshot")
        try:
            return await asyncio.shield(shared)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this caller is the one cut off
            # The shared read was cut off (the cards' tasks end at a shutdown, while requests
            # are still taken): this caller reads alone.
            return await self._read()

    async def _read_into(self, snapshot: asyncio.Future[Snapshot]) -> None:
        try:
            async with self._one_at_a_time:
                # From here on the read starts: later callers wait for the next one.
                if self._next is snapshot:
                    self._next = None
                snapshot.set_result(await self._read())
        except Exception as error:  # each caller hears it, as from a read of its own
            snapshot.set_exception(error)
        finally:
            if self._next is snapshot:  # cut off before it started: the next caller starts anew
                self._next = None
            if not snapshot.done():  # cut off: each caller reads alone (`fresh`)
                snapshot.cancel()
