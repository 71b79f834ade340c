"""Per-user cooldowns as this process last knew them: a free filter in front of the database's
(bot/storage/cooldown_store.py), which decides; this one may only refuse earlier.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from discord.ext import commands

from bot.storage import cooldown_store
from bot.storage.database import Executor

log = logging.getLogger(__name__)

# How long the look-up before a refusal may take: the answer must reach Discord within 3 s.
# A slower database leaves the refusal to this process's memory.
LOOKUP_SECONDS = 1.0


class UserCooldowns:
    """What this process knows of its users' cooldowns, read before the deferral without
    touching the database. A user it believes cooling is looked up in the database before
    being refused (another process may have given the window back), unless this process has
    their request in hand (a double click); a user it knows nothing of goes on to the
    database's check. Built on discord.py's CooldownMapping rather than the
    `app_commands.checks.cooldown` decorator because a window is given back when nothing was
    billed, and stretched to the API's reset after a long 429.
    """

    def __init__(
        self,
        cooldown_seconds: float,
        database: Executor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seconds = cooldown_seconds
        self._database = database
        self._clock = clock
        self._mapping: commands.CooldownMapping[int] = commands.CooldownMapping.from_cooldown(
            1, cooldown_seconds, lambda user_id: user_id
        )
        self._held_until: dict[int, float] = {}
        # Which request started each user's window here, so a refund gives back only its own.
        self._started_by: dict[int, int] = {}
        self._in_hand: Counter[int] = Counter()

    def until(self, user_id: int) -> float | None:
        """When this process last knew the user may start another generation; None when it
        knows of no cooldown."""
        now = self._clock()
        held = self._held_until.get(user_id, 0.0)
        if held <= now:
            self._held_until.pop(user_id, None)
        bucket = self._mapping.get_bucket(user_id, now)
        cooling = now + bucket.get_retry_after(now) if bucket is not None else now
        latest = max(cooling, held)
        return latest if latest > now else None

    async def refusal_until(self, user_id: int) -> float | None:
        """Until when to refuse the user before the deferral; None lets the request on to the
        database's check. No database work unless this process believes them cooling."""
        believed = self.until(user_id)
        if believed is None or self._in_hand[user_id]:
            return believed
        try:
            stored = await asyncio.wait_for(
                cooldown_store.until(self._database, user_id, self._clock()), LOOKUP_SECONDS
            )
        except Exception as error:
            log.warning("could not read the cooldown of a user (%s)", type(error).__name__)
            return believed
        if stored is None:
            # Given back elsewhere (a worker's refund, another process's Cancel).
            self._forget(user_id)
        return stored

    async def stored_until(self, user_id: int) -> float | None:
        """The database's word, read after the deferral: when the user may go again."""
        return await cooldown_store.until(self._database, user_id, self._clock())

    def start(self, user_id: int, started_by: int) -> None:
        """Request `started_by` (an interaction id) is taken in: its window starts here, in
        memory, at once (the database's starts when the job is stored)."""
        now = self._clock()
        self._in_hand[user_id] += 1
        bucket = self._mapping.get_bucket(user_id, now)
        if bucket is not None:
            bucket.update_rate_limit(now)
            self._started_by[user_id] = started_by

    def settled(self, user_id: int) -> None:
        """The request taken in by `start` is stored or refused."""
        self._in_hand[user_id] -= 1
        if self._in_hand[user_id] <= 0:
            del self._in_hand[user_id]

    def refund(self, user_id: int, started_by: int) -> None:
        """Nothing was billed for request `started_by`: its window ends, if it is the one this
        process knows (a newer request's stays)."""
        if self._started_by.get(user_id) != started_by:
            return
        del self._started_by[user_id]
        bucket = self._mapping.get_bucket(user_id, self._clock())
        if bucket is not None:
            bucket.reset()

    def hold_until(self, user_id: int, until: float) -> None:
        """Keep the user waiting until `until` (the API's reset, or the database's word)."""
        self._held_until[user_id] = max(until, self._held_until.get(user_id, 0.0))

    def _forget(self, user_id: int) -> None:
        self._held_until.pop(user_id, None)
        self._started_by.pop(user_id, None)
        bucket = self._mapping.get_bucket(user_id, self._clock())
        if bucket is not None:
            bucket.reset()
