"""Per-user cooldowns in the database, the one truth every process shares: taken, given back
and read inside the transactions that store, end or requeue the job they belong to.
"""

from __future__ import annotations

from bot.storage.database import Executor


class CoolingDown(Exception):
    """The user may not start another generation before `until` (seconds since the epoch)."""

    def __init__(self, until: float) -> None:
        super().__init__(f"cooling down until {until:.0f}")
        self.until = until


async def until(db: Executor, user_id: int, now: float) -> float | None:
    """When the user may start another generation; None when they may now."""
    rows = await db.fetch(
        "SELECT until, held_until FROM user_cooldowns WHERE user_id = $1", user_id
    )
    if not rows:
        return None
    latest = max(float(rows[0]["until"]), float(rows[0]["held_until"]))
    return latest if latest > now else None


async def take(tx: Executor, user_id: int, started_by: int, now: float, seconds: float) -> None:
    """Start the user's cooldown for the request `started_by` (its interaction id); raises
    CoolingDown, and takes nothing, while an earlier window or a hold still runs."""
    if seconds > 0:
        # One statement: of two processes taking a window for one user at once, the second
        # waits for the first's row and then finds it running.
        taken = await tx.fetch(
            "INSERT INTO user_cooldowns (user_id, until, started_by, held_until)"
            " VALUES ($1, $2, $3, 0) ON CONFLICT (user_id) DO UPDATE"
            " SET until = excluded.until, started_by = excluded.started_by"
            " WHERE user_cooldowns.until <= $4 AND user_cooldowns.held_until <= $4"
            " RETURNING user_id",
            user_id,
            now + seconds,
            started_by,
            now,
        )
        if taken:
            return
    cooling = await until(tx, user_id, now)
    if cooling is not None:
        raise CoolingDown(cooling)


async def give_back(tx: Executor, job_id: int) -> None:
    """Nothing was billed for this job: the window it started ends now. A newer request's
    window stays (Cancel of an older request), and so does a 429's hold."""
    await tx.execute(
        "UPDATE user_cooldowns SET until = 0, started_by = NULL"
        " WHERE user_id = (SELECT requester_id FROM jobs WHERE id = $1)"
        " AND started_by = (SELECT interaction_id FROM jobs WHERE id = $1)",
        job_id,
    )


async def hold(tx: Executor, user_id: int, until: float) -> None:
    """Keep the user waiting until the API's own reset after a long 429."""
    await tx.execute(
        "INSERT INTO user_cooldowns (user_id, until, started_by, held_until)"
        " VALUES ($1, 0, NULL, $2) ON CONFLICT (user_id) DO UPDATE"
        " SET held_until = excluded.held_until"
        " WHERE user_cooldowns.held_until < excluded.held_until",
        user_id,
        until,
    )


async def forget_ended(db: Executor, now: float) -> None:
    """Rows whose window and hold are over decide nothing: the sweep deletes them (a running
    one stays, even through /forget-me: forgetting a user does not lift their cooldown)."""
    await db.execute("DELETE FROM user_cooldowns WHERE until <= $1 AND held_until <= $1", now)
