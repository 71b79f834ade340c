"""Queue order and request pacing, on their own (no clock but a fake one, no network)."""

from __future__ import annotations

from bot.fairness import FairQueue
from bot.pacing import RatePacer


def test_other_users_first_jobs_go_before_a_users_second() -> None:
    queue = FairQueue()
    heavy, others = 1, [2, 3, 4, 5, 6]
    job_id = 0
    for _ in range(3):
        job_id += 1
        queue.add(job_id, heavy)
    for user in others:
        job_id += 1
        queue.add(job_id, user)
    started = []
    while len(queue):
        taken = queue.take()
        if taken is None:  # the heavy user's job is still running: let it finish
            queue.done(heavy)
            continue
        started.append(taken)
        if taken > 3:
            queue.done(taken - 2)  # users 2..6 finish at once
    assert started == [1, 4, 5, 6, 7, 8, 2, 3]


def test_a_newcomer_overtakes_a_users_backlog() -> None:
    queue = FairQueue()
    for job_id in (1, 2, 3):
        queue.add(job_id, 100)
    assert queue.take() == 1
    queue.add(4, 200)  # arrives while job 1 runs
    assert queue.order() == [4, 2, 3]
    assert queue.take() == 4, "user 100 has a job running: only user 200 may start"
    assert queue.take() is None
    queue.done(100)
    assert queue.take() == 2


def test_put_back_keeps_the_place_and_remove_drops_the_job() -> None:
    queue = FairQueue()
    for job_id, user in ((1, 10), (2, 20), (3, 10)):
        queue.add(job_id, user)
    assert queue.take() == 1
    queue.put_back(1, 10)
    assert queue.order() == [1, 2, 3]
    assert queue.remove(3)
    assert not queue.remove(3)
    assert queue.count(10) == 1
    assert queue.first_of(10) == 1
    assert 3 not in queue


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
