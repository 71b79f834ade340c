"""The retention rules: what is kept, for how long, and when the owner hears of the budget."""

from __future__ import annotations

from bot.domain.quotas import DAY_SECONDS
from bot.domain.retention import MB, Retention, may_warn_again, spend_window_start

NOW = 100 * DAY_SECONDS


def test_images_and_rows_expire_after_their_windows_but_never_inside_the_spend_window() -> None:
    retention = Retention(image_seconds=2 * DAY_SECONDS, history_seconds=3600)
    assert retention.images_expire_before(NOW) == NOW - 2 * DAY_SECONDS
    assert retention.history_expires_before(NOW) == NOW - DAY_SECONDS, "at least a day"
    assert spend_window_start(NOW) == NOW - DAY_SECONDS


def test_the_owner_hears_of_a_nearly_full_budget_once_a_day() -> None:
    retention = Retention(budget_bytes=100 * MB)
    assert retention.image_budget == 60 * MB
    assert not retention.nearly_full(80 * MB, images_over_budget=False)
    assert retention.nearly_full(81 * MB, images_over_budget=False)
    assert retention.nearly_full(1 * MB, images_over_budget=True)
    assert not Retention().nearly_full(10**12, images_over_budget=True), "no budget"
    assert may_warn_again(None, NOW)
    assert not may_warn_again(NOW - DAY_SECONDS + 1, NOW)
    assert may_warn_again(NOW - DAY_SECONDS, NOW)
