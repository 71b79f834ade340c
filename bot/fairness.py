"""The order queued jobs run in: fair between users, first come first served within a user.

A user's k-th job waits for every other user's earlier jobs: the next job goes to the user
who has had the fewest jobs started since they last had nothing queued or running (ties: the
oldest job). One user's long queue therefore never holds up another user's first job. A user
has at most one job running at a time.
"""

from __future__ import annotations

import bisect
from collections import Counter


class FairQueue:
    def __init__(self) -> None:
        self._queued: dict[int, list[int]] = {}  # user → their queued job ids, oldest first
        self._owner: dict[int, int] = {}  # job → user
        self._served: Counter[int] = Counter()  # user → jobs started in this busy spell
        self._running: Counter[int] = Counter()  # user → jobs running now

    def __len__(self) -> int:
        return len(self._owner)

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._owner

    def add(self, job_id: int, user_id: int) -> None:
        # Ids grow with time, so sorted order is arrival order, also for a job put back.
        bisect.insort(self._queued.setdefault(user_id, []), job_id)
        self._owner[job_id] = user_id

    def remove(self, job_id: int) -> bool:
        """Take a queued job out (cancelled); False if it was not queued."""
        user_id = self._owner.pop(job_id, None)
        if user_id is None:
            return False
        jobs = self._queued[user_id]
        jobs.remove(job_id)
        if not jobs:
            del self._queued[user_id]
        self._forget_if_idle(user_id)
        return True

    def count(self, user_id: int) -> int:
        return len(self._queued.get(user_id, ()))

    def take(self) -> int | None:
        """The next job to run, marked running; None when no user may start one now."""
        eligible = [user for user in self._queued if not self._running[user]]
        if not eligible:
            return None
        user_id = min(eligible, key=lambda user: (self._served[user], self._queued[user][0]))
        job_id = self._queued[user_id].pop(0)
        if not self._queued[user_id]:
            del self._queued[user_id]
        del self._owner[job_id]
        self._served[user_id] += 1
        self._running[user_id] += 1
        return job_id

    def mark_running(self, user_id: int) -> None:
        """A job that was already running when the bot started (resumed from the store)."""
        self._served[user_id] += 1
        self._running[user_id] += 1

    def put_back(self, job_id: int, user_id: int) -> None:
        """A job that could not start after all (429): back in its old place.

        Its run still ends with `done`, which frees the user's running slot.
        """
        self._served[user_id] -= 1
        self.add(job_id, user_id)

    def done(self, user_id: int) -> None:
        self._running[user_id] -= 1
        self._forget_if_idle(user_id)

    def order(self) -> list[int]:
        """Queued jobs in the order they are expected to start."""
        keyed = []
        for user_id, jobs in self._queued.items():
            base = self._served[user_id]
            keyed.extend(((base + index, job_id) for index, job_id in enumerate(jobs)))
        return [job_id for _, job_id in sorted(keyed)]

    def first_of(self, user_id: int) -> int | None:
        jobs = self._queued.get(user_id)
        return jobs[0] if jobs else None

    def _forget_if_idle(self, user_id: int) -> None:
        if user_id not in self._queued and self._running[user_id] <= 0:
            self._served.pop(user_id, None)
            self._running.pop(user_id, None)
