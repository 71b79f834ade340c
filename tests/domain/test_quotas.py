"""The daily quotas, decided from spend figures alone: what is left, and when a refusal frees."""

from __future__ import annotations

import math

from bot.domain.quotas import (
    DAY_SECONDS,
    DailyQuotas,
    Spend,
    budget_quota,
    member_quota,
    server_quota,
)

NOTHING = Spend(0, 0.0, None)


def when(moment: float) -> str:
    return f"at {moment:g}"


def test_a_member_with_room_is_told_how_much() -> None:
    quota = member_quota(Spend(3, 1.74, 100.0), limit=10)
    assert (quota.limit, quota.used, quota.left, quota.refusal) == (10, 3, 7, None)


def test_a_full_quota_frees_when_its_oldest_use_leaves_the_day() -> None:
    quota = member_quota(Spend(2, 1.16, 100.0), limit=2)
    assert quota.left == 0
    assert quota.refusal is not None
    assert quota.refusal.frees_at == 100.0 + DAY_SECONDS
    assert quota.refusal.message(when) == (
        f"You have used your 2 generations for today; the next one frees up at {100 + DAY_SECONDS}."
    )
    server = server_quota(Spend(5, 2.9, 50.0), cap=5)
    assert server.refusal is not None
    assert server.refusal.message(when).startswith("This server's 5 generations for today")


def test_the_budget_counts_whole_requests_at_the_reserved_price() -> None:
    assert budget_quota(Spend(1, 0.58, 1.0), budget=1.74, price=0.58).left == 2
    assert budget_quota(Spend(2, 1.16, 1.0), budget=1.74, price=0.58).left == 1, "no float slip"
    used_up = budget_quota(Spend(1, 0.58, 1.0), budget=1.0, price=0.58)
    assert used_up.left == 0
    assert used_up.refusal is not None
    assert "daily budget ($1.00) is used up" in used_up.refusal.message(when)
    too_small = budget_quota(NOTHING, budget=0.5, price=0.58)
    assert too_small.refusal is not None
    assert too_small.refusal.message(when) == (
        "The bot's daily budget ($0.50) is less than one generation costs."
    )
    assert budget_quota(NOTHING, budget=1.0, price=0.0).left == math.inf


def test_the_members_own_quota_is_reported_first_and_the_tightest_is_known() -> None:
    member = member_quota(Spend(1, 0.58, 1.0), limit=1)
    server = server_quota(Spend(9, 5.22, 1.0), cap=9)
    both = DailyQuotas(member, server)
    assert both.refusal is member.refusal
    roomy = DailyQuotas(member_quota(NOTHING, limit=10), server_quota(Spend(6, 0, 1.0), cap=9))
    assert roomy.refusal is None
    assert (roomy.left, roomy.tightest.name) == (3, "This server's daily cap")
