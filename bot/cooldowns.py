"""Per-user limits: one generation per cooldown period, one running at a time.

Built on discord.py's CooldownMapping rather than the `app_commands.checks.cooldown` decorator
because the slot must be taken only once the request is valid, given back when the API made no
image (nothing was billed), and stretched to the API's own reset time after a long 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from discord.ext import commands


@dataclass(frozen=True)
class Refusal:
    """Why a user may not start a generation now; `until` is an epoch time, when known."""

    reason: str  # "running" or "cooldown"
    until: float | None = None


class UserLimits:
    def __init__(self, cooldown_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cooldowns: commands.CooldownMapping[int] = commands.CooldownMapping.from_cooldown(
            1, cooldown_seconds, lambda user_id: user_id
        )
        self._held_until: dict[int, float] = {}
        self._running: set[int] = set()

    def check(self, user_id: int) -> Refusal | None:
        """None when the user may start a generation now."""
        if user_id in self._running:
            return Refusal("running")
        wait = self.retry_after(user_id)
        if wait > 0:
            return Refusal("cooldown", self._clock() + wait)
        return None

    def retry_after(self, user_id: int) -> float:
        now = self._clock()
        held = self._held_until.get(user_id, 0.0) - now
        if held <= 0:
            self._held_until.pop(user_id, None)
        bucket = self._cooldowns.get_bucket(user_id, now)
        cooling = bucket.get_retry_after(now) if bucket is not None else 0.0
        return max(cooling, held, 0.0)

    def begin(self, user_id: int) -> None:
        """Mark a request as running; checked and marked with no await in between."""
        self._running.add(user_id)

    def start_cooldown(self, user_id: int) -> None:
        """The request is valid and is about to cost money: the cooldown starts now."""
        now = self._clock()
        bucket = self._cooldowns.get_bucket(user_id, now)
        if bucket is not None:
            bucket.update_rate_limit(now)

    def hold_until(self, user_id: int, until: float) -> None:
        """Keep the user waiting until the API's own reset, so both tell one story."""
        self._held_until[user_id] = max(until, self._held_until.get(user_id, 0.0))

    def finish(self, user_id: int, *, refund: bool) -> None:
        """The request is over; `refund` gives the cooldown back when nothing was billed."""
        self._running.discard(user_id)
        if refund:
            bucket = self._cooldowns.get_bucket(user_id, self._clock())
            if bucket is not None:
                bucket.reset()
