"""The storage sweep: carries out what bot/domain/retention.py says is kept, for how long and
within what budget, and reads the figures /admin storage shows.

One process at a time sweeps (the `storage` lease), at start and every STORAGE_SWEEP_SECONDS, in
small batches of one statement each, so that no lock is held for long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.domain.retention import MB, Retention, may_warn_again, spend_window_start
from bot.storage import cooldown_store, image_store
from bot.storage.job_queue import SharedQueue
from bot.storage.job_store import (
    CANCELLED,
    CHARACTER,
    DELIVERED,
    ENDED,
    FAILED,
    POSE,
    RESULT,
    Store,
)
from bot.storage.story_store import settle_pending
from bot.tasks import TaskGroup

log = logging.getLogger(__name__)

STORAGE_LEASE = "storage"
WARNED_FACT = "storage_warned_at"  # when the owner was last warned that the budget is near
# Rows per statement: each batch is one short statement, so no lock is held for long.
BATCH = 100
# Delivered jobs read at a time, the least recently used first, when over the budget.
EVICTION_BATCH = 20
# SQLite pages given back to the file system per statement (8 MB at 4 KiB a page), once the
# free pages pass this share of the pages in use: below it, new images fill them anyway, and
# giving them back (moving the file's last pages into them) would cost as much as writing them.
VACUUM_PAGES = 2048
RECLAIM_SHARE = 0.25
# Kinds of stored images, as /admin storage lists them (bot/ui/names.py names them).
KINDS = (CHARACTER, POSE, RESULT, "saved", "story")

Alert = Callable[[str], Awaitable[None]]


@dataclass
class SweepReport:
    """What one sweep let go of."""

    expired_jobs: int = 0  # delivered jobs whose images passed their window
    evicted_jobs: int = 0  # delivered jobs whose images went for the budget
    ended_jobs: int = 0  # failed or cancelled jobs that still had images
    deleted_images: int = 0
    freed_bytes: int = 0
    deleted_rows: int = 0  # job rows past the history window
    database_bytes: int = 0
    # Under a budget: still over the images' share with nothing left to let go of (saved
    # characters and waiting requests take it all), so Reroll and New pose cannot serve.
    images_over_budget: bool = False
    warned: bool = False


@dataclass(frozen=True)
class StorageFigures:
    """What /admin storage shows."""

    database_bytes: int
    images: int
    image_bytes: int
    by_kind: dict[str, int]  # a kind of KINDS → bytes (an image of two kinds counts in both)
    budget_bytes: int | None


class StorageKeeper:
    """Runs the sweep (one process at a time) and reads the figures /admin storage shows."""

    def __init__(
        self,
        store: Store,
        queue: SharedQueue,
        retention: Retention,
        *,
        owner: str,
        alert: Alert,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.database = store.database
        self.queue = queue
        self.retention = retention
        self._owner = owner
        self._alert = alert
        self._clock = clock
        self._lock = asyncio.Lock()
        self._tasks = TaskGroup()
        self._holding = False

    def start(self) -> None:
        """Sweep now, then every `sweep_seconds`, in the background."""
        self._tasks.spawn(self._sweep_forever(), "storage-sweep")

    async def close(self) -> None:
        await self._tasks.close()
        if self._holding:
            self._holding = False
            try:
                await self.queue.let_go(STORAGE_LEASE, self._owner)
            except Exception as error:
                log.warning("could not give up the storage sweep's lease: %s", error)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                report = await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is away, say: the next sweep does what this one could not.
                log.exception("the storage sweep failed; trying again at the next one")
            else:
                if report is not None and (report.deleted_images or report.deleted_rows):
                    log.info(
                        "storage sweep: %d image(s) deleted (%.1f MB; %d job(s) past their "
                        "window, %d for the budget), %d old job row(s) deleted; database %.1f MB",
                        report.deleted_images,
                        report.freed_bytes / MB,
                        report.expired_jobs,
                        report.evicted_jobs,
                        report.deleted_rows,
                        report.database_bytes / MB,
                    )
            await asyncio.sleep(self.retention.sweep_seconds)

    async def sweep(self) -> SweepReport | None:
        """One sweep, if this process holds the lease (None when another one sweeps)."""
        async with self._lock:
            if not await self._hold():
                return None
            report = SweepReport()
            now = self._clock()
            await self._forget_secrets_of_ended_jobs()
            # A delivered /story add becomes its panel before its images could expire.
            await settle_pending(self.database, now)
            report.ended_jobs = await self._let_go_of_images(
                f"j.state IN ('{FAILED}', '{CANCELLED}')", (), report
            )
            await self._let_go_of_forgotten_uploads(report)
            report.expired_jobs = await self._let_go_of_images(
                f"j.state = '{DELIVERED}' AND j.used_at < $1",
                (self.retention.images_expire_before(now),),
                report,
            )
            # Each step renews the lease; one that finds it lost leaves the rest to its holder.
            if not await self._hold():
                return report
            report.deleted_rows = await self._delete_history(now)
            await cooldown_store.forget_ended(self.database, now)
            if not await self._hold():
                return report
            await self._delete_unused_images(report)
            if not await self._hold():
                return report
            report.evicted_jobs = await self._keep_within_budget(report)
            await self._give_space_back()
            report.database_bytes = await self.database_bytes()
            report.warned = await self._warn_if_nearly_full(report, now)
            return report

    async def _hold(self) -> bool:
        # Long enough to outlast a sweep; renewed between its steps.
        seconds = max(self.retention.sweep_seconds, 60.0) + 60.0
        self._holding = await self.queue.hold(STORAGE_LEASE, self._owner, self._clock(), seconds)
        return self._holding

    # The steps

    async def _forget_secrets_of_ended_jobs(self) -> None:
        """Jobs end without their interaction token and the API's URLs; this catches any that
        ended before that was so."""
        ended = ", ".join(f"'{state}'" for state in ENDED)
        while True:
            rows = await self.database.fetch(
                "UPDATE jobs SET token = '', status_url = NULL, response_url = NULL"  # noqa: S608 - constants
                " WHERE id IN (SELECT id FROM jobs"
                f" WHERE state IN ({ended}) AND (token <> '' OR status_url IS NOT NULL"
                " OR response_url IS NOT NULL) LIMIT $1) RETURNING id",
                BATCH,
            )
            if len(rows) < BATCH:
                break
        while True:
            rows = await self.database.fetch(
                "UPDATE job_images SET source_url = NULL WHERE (job_id, role) IN"  # noqa: S608
                " (SELECT i.job_id, i.role FROM job_images i JOIN jobs j ON j.id = i.job_id"
                f" WHERE i.source_url IS NOT NULL AND j.state IN ({ended}) LIMIT $1)"
                " RETURNING job_id",
                BATCH,
            )
            if len(rows) < BATCH:
                break

    async def _let_go_of_images(
        self, where: str, args: tuple[float, ...], report: SweepReport, *, limit: int = BATCH
    ) -> int:
        """Detach every image of the jobs matching `where` (its `args` numbered from $1, oldest
        use first), in batches, and delete the images nothing else uses. Returns how many jobs
        let go of theirs."""
        jobs = 0
        while True:
            count = await self._let_go_once(where, args, report, limit)
            jobs += count
            if count < limit:
                return jobs

    async def _let_go_once(
        self, where: str, args: tuple[float, ...], report: SweepReport, limit: int
    ) -> int:
        rows = await self.database.fetch(
            "DELETE FROM job_images WHERE job_id IN (SELECT j.id FROM jobs j"  # noqa: S608 - constants
            f" WHERE {where} AND EXISTS (SELECT 1 FROM job_images x WHERE x.job_id = j.id)"
            f" ORDER BY j.used_at, j.id LIMIT ${len(args) + 1}) RETURNING job_id, sha256",
            *args,
            limit,
        )
        await self._delete_unused(report, [row["sha256"] for row in rows])
        return len({row["job_id"] for row in rows})

    async def _let_go_of_forgotten_uploads(self, report: SweepReport) -> None:
        """Uploads whose owner asked to be forgotten, in jobs that have ended since."""
        ended = ", ".join(f"'{state}'" for state in ENDED)
        while True:
            rows = await self.database.fetch(
                "DELETE FROM job_images WHERE forgotten AND job_id IN (SELECT job_id"  # noqa: S608
                f" FROM job_images WHERE forgotten AND job_id IN (SELECT id FROM jobs"
                f" WHERE state IN ({ended})) LIMIT $1) RETURNING sha256",
                BATCH,
            )
            await self._delete_unused(report, [row["sha256"] for row in rows])
            if len(rows) < BATCH:
                return

    async def _delete_history(self, now: float) -> int:
        """Rows of jobs that ended long ago, and the ledger's past the same horizon. Never one
        inside the spend window: the caps and /usage count them."""
        before = self.retention.history_expires_before(now)
        ended = ", ".join(f"'{state}'" for state in ENDED)
        deleted = 0
        while True:
            rows = await self.database.fetch(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs"  # noqa: S608 - constants
                f" WHERE state IN ({ended}) AND finished_at < $1 AND created_at < $2"
                " ORDER BY id LIMIT $3) RETURNING id",
                before,
                spend_window_start(now),
                BATCH,
            )
            deleted += len(rows)
            if len(rows) < BATCH:
                break
        # What was paid, past the same horizon: nothing counts or charts it any more.
        while True:
            gone = await self.database.fetch(
                "DELETE FROM spend_ledger WHERE id IN (SELECT id FROM spend_ledger"
                " WHERE at < $1 ORDER BY id LIMIT $2) RETURNING id",
                before,
                BATCH,
            )
            if len(gone) < BATCH:
                return deleted

    async def _delete_unused_images(self, report: SweepReport) -> None:
        """Whatever nothing refers to any more (a job row deleted with its images, say)."""
        while True:
            rows = await self.database.fetch(
                f"SELECT sha256 FROM images WHERE {image_store.UNUSED} LIMIT $1",  # noqa: S608
                BATCH,
            )
            before = report.deleted_images
            await self._delete_unused(report, [row["sha256"] for row in rows])
            if len(rows) < BATCH or report.deleted_images == before:
                return

    async def _keep_within_budget(self, report: SweepReport) -> int:
        """Over the budget, the images of delivered jobs go, the least recently used first,
        until the images fit in their share of it again."""
        allowed = self.retention.image_budget
        if allowed is None:
            return 0
        [row] = await self.database.fetch("SELECT COALESCE(SUM(bytes), 0) AS n FROM images")
        total = int(row["n"])
        evicted = 0
        while total > allowed:
            oldest = await self.database.fetch(
                "SELECT j.id FROM jobs j WHERE j.state = $1 AND EXISTS"
                " (SELECT 1 FROM job_images x WHERE x.job_id = j.id)"
                " ORDER BY j.used_at, j.id LIMIT $2",
                DELIVERED,
                EVICTION_BATCH,
            )
            if not oldest:
                # Nothing left to let go of: saved characters and waiting jobs stay.
                report.images_over_budget = True
                break
            for job in oldest:
                # One job at a time, so that no more goes than the budget needs.
                rows = await self.database.fetch(
                    "DELETE FROM job_images WHERE job_id = $1 RETURNING sha256", job["id"]
                )
                freed_before = report.freed_bytes
                await self._delete_unused(report, [row["sha256"] for row in rows])
                total -= report.freed_bytes - freed_before
                evicted += 1
                if total <= allowed:
                    break
        return evicted

    async def _delete_unused(self, report: SweepReport, hashes: list[str]) -> None:
        for sha256 in dict.fromkeys(hashes):
            freed = await image_store.delete_unused(self.database, [sha256])
            if freed:
                report.deleted_images += 1
                report.freed_bytes += freed

    async def _give_space_back(self) -> None:
        """SQLite: return freed pages to the file system, a few megabytes per statement, when
        there are many. PostgreSQL's autovacuum makes freed space reusable on its own; VACUUM
        FULL, which locks every table while it rewrites them, is never run."""
        if self.database.dialect != "sqlite":
            return
        free = await self._pragma("freelist_count")
        in_use = await self._pragma("page_count") - free
        if free <= in_use * RECLAIM_SHARE:
            return
        while free:
            # Each row the pragma returns is a step of its work: all of them must be read.
            await self.database.fetch(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
            left = await self._pragma("freelist_count")
            if left >= free:
                return  # the file is not in incremental mode (yet): nothing to give back
            free = left

    async def _pragma(self, name: str) -> int:
        [row] = await self.database.fetch(f"PRAGMA {name}")
        return int(next(iter(row.values())))

    async def _warn_if_nearly_full(self, report: SweepReport, now: float) -> bool:
        """Tell the owner, at most once a day, when the budget cannot be kept by letting go of
        images: the database past WARN_SHARE of it, or the images still over their share."""
        budget = self.retention.budget_bytes
        database_bytes = report.database_bytes
        if budget is None or not self.retention.nearly_full(
            database_bytes, report.images_over_budget
        ):
            return False
        warned_at = await self.store.fact(WARNED_FACT)
        if not may_warn_again(None if warned_at is None else float(warned_at), now):
            return False
        await self.store.set_fact(WARNED_FACT, repr(now))
        figures = await self.figures()
        saved = figures.by_kind.get("saved", 0)
        text = (
            f"⚠️ The bot's database holds {database_bytes / MB:.0f} MB, "
            f"{database_bytes / budget:.0%} of its {budget / MB:.0f} MB storage budget "
            f"(STORAGE_BUDGET_MB), although the images of delivered requests have been "
            f"deleted, the oldest first: saved characters take {saved / MB:.0f} MB. Requests "
            "are still accepted, but Reroll and New pose find fewer images. Raise the budget "
            "with the database plan, or ask users to delete characters they no longer need. "
            "`/admin storage` shows the figures."
        )
        try:
            await self._alert(text)
        except Exception:
            log.exception("could not warn the owner that storage is nearly full")
        return True

    # Figures

    async def database_bytes(self) -> int:
        return await database_bytes(self.store)

    async def figures(self) -> StorageFigures:
        [images] = await self.database.fetch(
            "SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS total FROM images"
        )
        by_kind = dict.fromkeys(KINDS, 0)
        for row in await self.database.fetch(
            "SELECT r.role, COALESCE(SUM(i.bytes), 0) AS total"
            " FROM (SELECT DISTINCT role, sha256 FROM job_images) r"
            " JOIN images i ON i.sha256 = r.sha256 GROUP BY r.role"
        ):
            by_kind[row["role"]] = int(row["total"])
        [saved] = await self.database.fetch(
            "SELECT COALESCE(SUM(bytes), 0) AS total FROM images i WHERE EXISTS"
            " (SELECT 1 FROM characters c WHERE c.image_sha256 = i.sha256)"
        )
        by_kind["saved"] = int(saved["total"])
        [story] = await self.database.fetch(
            "SELECT COALESCE(SUM(bytes), 0) AS total FROM images i WHERE EXISTS"
            " (SELECT 1 FROM story_panels p WHERE p.image_sha256 = i.sha256)"
        )
        by_kind["story"] = int(story["total"])
        return StorageFigures(
            database_bytes=await self.database_bytes(),
            images=int(images["n"]),
            image_bytes=int(images["total"]),
            by_kind=by_kind,
            budget_bytes=self.retention.budget_bytes,
        )


async def database_bytes(store: Store) -> int:
    """The database's size as its host counts it (PostgreSQL's database size; SQLite's pages
    in use): what STORAGE_BUDGET_MB is kept against (the setup check reads it too)."""
    database = store.database
    if database.dialect == "postgres":
        [row] = await database.fetch("SELECT pg_database_size(current_database()) AS n")
        return int(row["n"])

    async def pragma(name: str) -> int:
        [row] = await database.fetch(f"PRAGMA {name}")
        return int(next(iter(row.values())))

    pages = await pragma("page_count") - await pragma("freelist_count")
    return pages * await pragma("page_size")
