"""The order queued jobs run in: fair between users, first come first served within a user.

A user's k-th job waits for every other user's earlier jobs: the next job goes to the user
who has had the fewest jobs started since they last had nothing queued or running (their
"spell"; ties: the oldest job). One user's long queue therefore never holds up another user's
first job. A user has at most one job running at a time. These are the rules alone; the
shared queue (bot/storage/job_queue.py) applies them to what the database holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """A user who may start a job now: none of theirs is running, one or more is queued."""

    user_id: int
    first_job_id: int  # their oldest queued job
    served: int  # jobs started in their current spell


def pick(candidates: Iterable[Candidate], count: int) -> list[Candidate]:
    """The next `count` users to start a job, one job each."""
    return sorted(candidates, key=lambda c: (c.served, c.first_job_id))[: max(count, 0)]


def order(queued: Iterable[tuple[int, int]], served: Mapping[int, int]) -> list[int]:
    """Queued job ids, given as (job id, user id), in the order they are expected to start."""
    per_user: dict[int, list[int]] = {}
    for job_id, user_id in queued:
        per_user.setdefault(user_id, []).append(job_id)
    keyed = []
    for user_id, jobs in per_user.items():
        base = served.get(user_id, 0)
        keyed.extend((base + index, job_id) for index, job_id in enumerate(sorted(jobs)))
    return [job_id for _, job_id in sorted(keyed)]
