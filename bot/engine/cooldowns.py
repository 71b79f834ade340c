"""Per-user cooldown: one accepted generation per period, stretched to the API's own reset.

Built on discord.py's CooldownMapping rather than the `app_commands.checks.cooldown` decorator
because the slot must be taken only once the request is valid, given back when nothing was
billed (a refused, failed or cancelled job), and stretched to the API's reset after a long 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from discord.ext import commands


class UserCooldowns:
    def __init__(self, cooldown_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._mapping: commands.CooldownMapping[int] = commands.CooldownMapping.from_cooldown(
            1, cooldown_seconds, lambda user_id: user_id
        )
        self._held_until: dict[int, float] = {}

    def until(self, user_id: int) -> float | None:
        """When the user may start another generation; None when they may now."""
        now = self._clock()
        held = self._held_until.get(user_id, 0.0)
        if held <= now:
            self._held_until.pop(user_id, None)
        bucket = self._mapping.get_bucket(user_id, now)
        cooling = now + bucket.get_retry_after(now) if bucket is not None else now
        latest = max(cooling, held)
        return latest if latest > now else None

    def start(self, user_id: int) -> None:
        """The request is accepted and will cost money: the cooldown starts now."""
        now = self._clock()
        bucket = self._mapping.get_bucket(user_id, now)
        if bucket is not None:
            bucket.update_rate_limit(now)

    def refund(self, user_id: int) -> None:
        """Nothing was billed after all: the user may go again at once."""
        bucket = self._mapping.get_bucket(user_id, self._clock())
        if bucket is not None:
            bucket.reset()

    def hold_until(self, user_id: int, until: float) -> None:
        """Keep the user waiting until the API's own reset, so both tell one story."""
        self._held_until[user_id] = max(until, self._held_until.get(user_id, 0.0))
