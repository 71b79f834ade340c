"""Queue order and request pacing, on their own (no clock but a fake one, no network)."""

from __future__ import annotations

from bot.domain.fairness import Candidate, order, pick
from bot.domain.pacing import RatePacer


def simulate(jobs: list[tuple[int, int]]) -> list[int]:
    """Start jobs one at a time, each finishing before the next starts, as the shared queue
    does with one API slot: returns the job ids in the order they started."""
    queued = list(jobs)
    served: dict[int, int] = {}
    started = []
    while queued:
        candidates = {}
        for job_id, user in queued:
            candidates.setdefault(user, Candidate(user, job_id, served.get(user, 0)))
        [chosen] = pick(candidates.values(), 1)
        started.append(chosen.first_job_id)
        served[chosen.user_id] = served.get(chosen.user_id, 0) + 1
        queued.remove((chosen.first_job_id, chosen.user_id))
    return started


def test_other_users_first_jobs_go_before_a_users_second() -> None:
    heavy = [(1, 1), (2, 1), (3, 1)]
    others = [(4 + n, 2 + n) for n in range(5)]
    assert simulate(heavy + others) == [1, 4, 5, 6, 7, 8, 2, 3]


def test_a_newcomer_overtakes_a_users_backlog() -> None:
    # User 100 has had one job started (job 1, running); user 200 arrives.
    assert order([(2, 100), (3, 100), (4, 200)], {100: 1}) == [4, 2, 3]
    candidates = [Candidate(200, 4, 0)]  # user 100 has a job running: not a candidate
    assert [c.first_job_id for c in pick(candidates, 2)] == [4]


def test_ties_go_to_the_oldest_job_and_pick_takes_one_job_per_user() -> None:
    candidates = [Candidate(10, 7, 1), Candidate(20, 5, 1), Candidate(30, 9, 0)]
    assert [c.user_id for c in pick(candidates, 3)] == [30, 20, 10]
    assert pick(candidates, 0) == []
    assert order([(1, 10), (2, 20), (3, 10)], {}) == [1, 2, 3]


def test_pacer_never_lets_more_than_the_limit_into_any_minute() -> None:
    now = [0.0]
    pacer = RatePacer(3, clock=lambda: now[0])
    sends = []
    for _ in range(10):
        now[0] = max(now[0], pacer.next_free())
        pacer.record()
        sends.append(now[0])
        now[0] += 0.1
    for index in range(len(sends) - 3):
        assert sends[index + 3] - sends[index] >= 60, sends
    assert sends[3] - sends[0] < 61, "and no slower than the limit needs"


def test_pacer_predicts_when_a_queue_position_may_start() -> None:
    now = [100.0]
    pacer = RatePacer(2, clock=lambda: now[0])
    assert pacer.send_time(1) == 100.0
    assert pacer.send_time(2) == 100.0
    pacer.record()
    pacer.record()
    assert pacer.send_time(1) == 160.5
    assert pacer.send_time(3) == 221.0


def test_pacer_prediction_matches_a_simulation_far_down_the_queue() -> None:
    now = [0.0]
    pacer = RatePacer(3, clock=lambda: now[0])
    predicted = [pacer.send_time(position) for position in range(1, 2001)]
    sent = []
    for _ in range(2000):
        now[0] = max(now[0], pacer.next_free())
        pacer.record()
        sent.append(now[0])
    assert predicted == sent
