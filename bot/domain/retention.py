"""What the bot keeps, for how long, and within what budget: the rules the storage sweep
(bot/storage/retention.py) carries out.

Images are kept while they serve: those of a job waiting or generating until it ends; those of
a delivered job for IMAGE_RETENTION_DAYS after its last use (its delivery, or a Reroll or New
pose made from it); a saved character's, and a story panel's, until it is deleted. A job's
row, without images, is kept HISTORY_RETENTION_DAYS for /usage, the caps and the budget, and
never less than the spend window. Under a STORAGE_BUDGET_MB the oldest images of delivered jobs
go first, and the owner is warned once a day when the database passes WARN_SHARE of the budget
all the same. Nothing here ever refuses a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.quotas import DAY_SECONDS

if TYPE_CHECKING:
    from bot.settings import Settings

MB = 1024 * 1024
# Under a budget, the images are kept within this share of it: the rest is room for the rows,
# the indexes, and the space PostgreSQL frees but reuses only after its autovacuum has run.
IMAGE_SHARE = 0.6
# Past this share of the budget the database is nearly full all the same (saved characters,
# requests waiting): the owner is told, at most once a day.
WARN_SHARE = 0.8
WARN_EVERY_SECONDS = DAY_SECONDS


@dataclass(frozen=True)
class Retention:
    """How long things are kept (seconds) and the budget (bytes; None: no budget)."""

    image_seconds: float = 7 * DAY_SECONDS
    history_seconds: float = 30 * DAY_SECONDS
    budget_bytes: int | None = None
    sweep_seconds: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        budget = settings.storage_budget_mb
        return cls(
            image_seconds=settings.image_retention_days * DAY_SECONDS,
            history_seconds=settings.history_retention_days * DAY_SECONDS,
            budget_bytes=round(budget * MB) if budget is not None else None,
            sweep_seconds=settings.storage_sweep_seconds,
        )

    @property
    def image_budget(self) -> int | None:
        """The most the images may take together, under a budget."""
        return int(self.budget_bytes * IMAGE_SHARE) if self.budget_bytes is not None else None

    def images_expire_before(self, now: float) -> float:
        """A delivered job last used before this lets go of its images."""
        return now - self.image_seconds

    def history_expires_before(self, now: float) -> float:
        """An ended job that finished before this loses its row; never one inside the spend
        window, whatever the setting: the caps and /usage count them."""
        return now - max(self.history_seconds, DAY_SECONDS)

    def nearly_full(self, database_bytes: int, images_over_budget: bool) -> bool:
        """Whether the owner should hear that letting go of images cannot keep the budget."""
        if self.budget_bytes is None:
            return False
        return database_bytes > self.budget_bytes * WARN_SHARE or images_over_budget


def spend_window_start(now: float) -> float:
    """Rows created since this are counted by the caps and the budget: never deleted."""
    return now - DAY_SECONDS


def may_warn_again(warned_at: float | None, now: float) -> bool:
    """At most one storage warning a day."""
    return warned_at is None or now - warned_at >= WARN_EVERY_SECONDS
