"""Benchmark of storage: the image bytes stored per delivered job, and the database's size after
thousands of jobs, with the default retention and under a budget.

The bot's own store, character library and storage sweep, driven as the bot drives them
(each job stored, claimed, given its result and delivered; the sweep every
STORAGE_SWEEP_SECONDS), on a simulated clock so that a month passes in minutes. Users pose the
way they really do: the same few characters again and again, uploaded anew or picked from the
library, Rerolls and New poses of recent results (their own, sometimes someone else's), now and
then a pose reference, and results saved as characters. Images are incompressible bytes of
realistic sizes (a cleaned upload about 1 MB, a pose reference 0.6 MB, a result 1.4 MB).

`python -m bench.storage` prints the rows; `bench.run` calls `storage_rows`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import random
import secrets
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from yarl import URL

from bench.table import Row
from bot.domain.pose_request import PoseOptions
from bot.domain.quotas import DAY_SECONDS
from bot.domain.retention import MB, Retention
from bot.settings import Settings
from bot.storage.character_store import CharacterStore
from bot.storage.database import connect
from bot.storage.job_queue import Limits, SharedQueue
from bot.storage.job_store import CHARACTER, POSE, RESULT, JobStore, NewJob, StoredImage
from bot.storage.retention import StorageKeeper

# Heroku Postgres Essential-0 holds 1 GB; the README recommends this budget for it.
BUDGET_MB = 700
LIMITS = Limits(max_concurrency=4, rpm=1_000_000, lease_seconds=15)
OPTIONS = PoseOptions("a pose", "", 1, 10, 3.0, "square")


@dataclass(frozen=True)
class Workload:
    jobs: int = 5000
    days: float = 30.0  # over which the jobs arrive, evenly
    users: int = 150
    characters_per_user: tuple[int, int] = (1, 3)
    pose_references: int = 300  # a shared pool: references are often the same pictures
    character_bytes: int = 1_000_000
    pose_bytes: int = 600_000
    result_bytes: int = 1_400_000
    # What a request is: a new upload, a saved character, a Reroll, a New pose.
    mix: tuple[tuple[str, float], ...] = (
        ("upload", 0.40),
        ("saved", 0.20),
        ("reroll", 0.25),
        ("newpose", 0.15),
    )
    with_pose_reference: float = 0.2
    someone_elses_result: float = 0.2  # a Reroll of another user's result in the channel
    saves_a_result: float = 0.05  # 💾 Save character pressed after a result
    seed: int = 20_240_601


@dataclass
class Outcome:
    delivered: int = 0
    written: int = 0  # image bytes stored for the first time (or again after being let go of)
    copies: int = 0  # what a job-keeps-its-own-copies store would have written
    reused_inputs: int = 0  # Rerolls, New poses and saved poses
    reused_written: int = 0  # input bytes those stored
    gone: int = 0  # Rerolls and New poses refused: the images had passed their window
    final_bytes: int = 0
    peak_bytes: int = 0
    evicted_jobs: int = 0
    warnings: int = 0
    holding_images: int = 0
    saved_bytes: int = 0  # the images of saved characters: never let go of for the budget
    seconds: float = 0.0


@dataclass
class _User:
    id: int
    characters: int
    saved: list[str] = field(default_factory=list)


def _bytes(kind: str, key: object, size: int, seed: int) -> bytes:
    """The same bytes for the same picture every time (an upload of the same file)."""
    digest = hashlib.sha256(f"{seed}:{kind}:{key}".encode()).digest()
    rng = random.Random(digest)
    jitter = rng.uniform(0.8, 1.2)
    return rng.randbytes(int(size * jitter))


class _Simulation:
    def __init__(self, store: JobStore, workload: Workload, retention: Retention) -> None:
        self.store = store
        self.workload = workload
        self.rng = random.Random(workload.seed)
        self.now = 1_700_000_000.0
        self.characters = CharacterStore(store.database, max_per_user=25)
        self.queue = SharedQueue(store.database)
        self.warnings: list[str] = []
        self.keeper = StorageKeeper(
            store,
            self.queue,
            retention,
            owner="bench",
            alert=self._alert,
            clock=lambda: self.now,
        )
        low, high = workload.characters_per_user
        self.users = [_User(n + 1, self.rng.randint(low, high)) for n in range(workload.users)]
        self.results: dict[int, deque[int]] = {user.id: deque(maxlen=5) for user in self.users}
        self.recent: deque[int] = deque(maxlen=50)  # results seen in the channel
        self.outcome = Outcome()
        self._interaction = 10**15

    async def _alert(self, text: str) -> None:
        self.warnings.append(text)

    async def run(self) -> Outcome:
        started = time.monotonic()
        workload = self.workload
        gap = workload.days * DAY_SECONDS / workload.jobs
        next_sweep = self.now
        for _ in range(workload.jobs):
            self.now += gap
            if self.now >= next_sweep:
                await self._sweep()
                next_sweep = self.now + self.keeper.retention.sweep_seconds
            await self._request(self.rng.choice(self.users))
            size = await self.keeper.database_bytes()
            self.outcome.peak_bytes = max(self.outcome.peak_bytes, size)
        await self._sweep()
        self.outcome.final_bytes = await self.keeper.database_bytes()
        self.outcome.warnings = len(self.warnings)
        [row] = await self.store.database.fetch(
            "SELECT COUNT(DISTINCT job_id) AS n FROM job_images"
        )
        self.outcome.holding_images = int(row["n"])
        self.outcome.saved_bytes = (await self.keeper.figures()).by_kind["saved"]
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    async def _sweep(self) -> None:
        report = await self.keeper.sweep()
        if report is not None:
            self.outcome.evicted_jobs += report.evicted_jobs
        if self.store.database.dialect == "postgres":
            # Between two sweeps, ten real minutes, autovacuum (set to run promptly on the
            # images) has made the deleted images' space reusable; here they pass in an instant.
            await self.store.database.execute("VACUUM images")

    async def _request(self, user: _User) -> None:
        workload = self.workload
        kinds, weights = zip(*workload.mix, strict=True)
        kind = self.rng.choices(kinds, weights)[0]
        if kind in ("reroll", "newpose"):
            parent = self._result_to_reuse(user)
            if parent is not None:
                inputs = await self.store.images(parent)
                if CHARACTER in inputs:
                    reused = [inputs[role] for role in (CHARACTER, POSE) if role in inputs]
                    await self._job(user, reused, parent=parent, reused=reused)
                    return
                self.outcome.gone += 1  # the user is told why, and uploads again
            kind = "upload"
        if kind == "saved" and user.saved:
            name = self.rng.choice(user.saved)
            found = await self.characters.find(user.id, 1, name)
            if found is not None:
                image = StoredImage(CHARACTER, "png", 1024, 1024, found.data)
                await self._job(user, [image, *self._maybe_pose()], reused=[image])
                return
        which = self.rng.randrange(user.characters)
        upload = _bytes("character", (user.id, which), workload.character_bytes, workload.seed)
        images = [StoredImage(CHARACTER, "png", 1024, 1024, upload), *self._maybe_pose()]
        job_id = await self._job(user, images)
        if self.rng.random() < 0.3 and f"Character {which}" not in user.saved:
            # /character save of the same picture: stored once, whatever refers to it.
            await self._save(user, f"Character {which}", upload)
        if self.rng.random() < workload.saves_a_result:
            result = (await self.store.images(job_id))[RESULT]
            await self._save(user, f"Result {job_id}", result.data)

    def _result_to_reuse(self, user: _User) -> int | None:
        if self.recent and self.rng.random() < self.workload.someone_elses_result:
            return self.rng.choice(self.recent)
        own = self.results[user.id]
        return self.rng.choice(own) if own else None

    def _maybe_pose(self) -> list[StoredImage]:
        workload = self.workload
        if self.rng.random() >= workload.with_pose_reference:
            return []
        which = self.rng.randrange(workload.pose_references)
        data = _bytes("pose", which, workload.pose_bytes, workload.seed)
        return [StoredImage(POSE, "jpeg", 768, 1024, data)]

    async def _save(self, user: _User, name: str, data: bytes) -> None:
        if len(user.saved) >= 25:
            return
        self.outcome.written += await self._count_new([data])
        await self.characters.save(
            owner_id=user.id,
            guild_id=1,
            name=name,
            description="",
            shared=False,
            image_format="png",
            width=1024,
            height=1024,
            data=data,
            now=self.now,
        )
        user.saved.append(name)

    async def _job(
        self,
        user: _User,
        images: list[StoredImage],
        *,
        parent: int | None = None,
        reused: list[StoredImage] | None = None,
    ) -> int:
        """One request, stored, run and delivered; `reused` are the images it takes from a
        result or the library (they should cost no byte)."""
        store, outcome = self.store, self.outcome
        self._interaction += 1
        if reused:
            outcome.reused_inputs += 1
            outcome.reused_written += await self._count_new([image.data for image in reused])
        outcome.written += await self._count_new([image.data for image in images])
        job = NewJob(
            requester_id=user.id,
            guild_id=1,
            channel_id=1,
            application_id=1,
            interaction_id=self._interaction,
            token="interaction-token",  # noqa: S106 - no real token
            token_expires_at=self.now + 900,
            status_message_id=self._interaction,
            upload_limit=10 * MB,
            options=OPTIONS,
            created_at=self.now,
            parent_job_id=parent,
        )
        job_id = await store.add_job(job, images)
        claim = await self.queue.claim("bench", self.now, LIMITS, start_new=True)
        [running] = [started for started in claim.started if started.id == job_id]
        result = self.rng.randbytes(int(self.workload.result_bytes * self.rng.uniform(0.8, 1.2)))
        outcome.written += len(result)
        outcome.copies += len(result) + sum(len(image.data) for image in images)
        stored = StoredImage(RESULT, "png", 1024, 1024, result)
        assert await store.save_result(running, stored, {}, self.now)
        assert await store.mark_delivered(running, self._interaction, self.now)
        outcome.delivered += 1
        self.results[user.id].append(job_id)
        self.recent.append(job_id)
        return job_id

    async def _count_new(self, datas: list[bytes]) -> int:
        """The bytes of those images the store does not hold yet (it will write them)."""
        written = 0
        for sha256, data in {hashlib.sha256(d).hexdigest(): d for d in datas}.items():
            rows = await self.store.database.fetch("SELECT 1 FROM images WHERE sha256 = $1", sha256)
            if not rows:
                written += len(data)
        return written


async def simulate(
    workload: Workload, retention: Retention, postgres_url: str | None = None
) -> Outcome:
    """Run `workload` against a fresh store: a SQLite file in a temporary directory, or a
    database of its own created through `postgres_url` (its size is the database's)."""
    async with _fresh_database(postgres_url) as url:
        store = JobStore(await connect(url))
        try:
            await store.migrate()
            return await _Simulation(store, workload, retention).run()
        finally:
            await store.close()


@asynccontextmanager
async def _fresh_database(postgres_url: str | None) -> AsyncIterator[str]:
    if postgres_url is None:
        with tempfile.TemporaryDirectory(prefix="posebot-storage-") as scratch:
            yield f"sqlite:///{Path(scratch) / 'storage.db'}"
        return
    name = f"posebot_storage_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield str(URL(postgres_url).with_path(f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def storage_rows(quick: bool = False, postgres_url: str | None = None) -> list[Row]:
    """The storage rows of the benchmark: bytes per delivered job, what Rerolls and saved
    poses add, and the database's size after the jobs with the default retention and under
    a budget of BUDGET_MB. SQLite unless `postgres_url` is given (a server where the bench
    may create and drop a database of its own)."""
    workload = Workload(jobs=1000, days=15.0) if quick else Workload()
    defaults = Settings(discord_token="-", segmind_api_key="-")  # noqa: S106 - not used
    retention = Retention.from_settings(defaults)
    budgeted = dataclasses.replace(retention, budget_bytes=BUDGET_MB * MB)
    plain = await simulate(workload, retention, postgres_url)
    capped = await simulate(workload, budgeted, postgres_url)
    jobs, days = workload.jobs, f"{workload.days:g}"
    per_job = plain.written / plain.delivered
    copies = plain.copies / plain.delivered
    where = "PostgreSQL" if postgres_url else "SQLite"
    return [
        Row(
            "image bytes stored per delivered job",
            f"{per_job / MB:.2f} MB",
            f"< {copies / MB:.2f} MB (a copy per job)",
            f"{jobs} jobs, {workload.users} users posing their 1–3 characters over {days} days: "
            f"40 % uploads, 20 % saved, 25 % Rerolls, 15 % New poses; 20 % with a pose "
            f"reference; {plain.gone} Rerolls/New poses found their images gone",
        ),
        Row(
            "input bytes added by Rerolls, New poses, saved poses",
            f"{plain.reused_written} B",
            "0",
            f"{plain.reused_inputs} such jobs",
        ),
        Row(
            f"database after {jobs} jobs, default retention",
            f"{plain.final_bytes / MB:.0f} MB (peak {plain.peak_bytes / MB:.0f} MB)",
            f"images of the last {retention.image_seconds / DAY_SECONDS:g} days only",
            f"{where}; {plain.holding_images} jobs still hold images, saved characters "
            f"{plain.saved_bytes / MB:.0f} MB; keeping every copy, as before, it would hold "
            f"{plain.copies / MB:.0f} MB and grow for ever; {plain.seconds:.0f} s",
        ),
        Row(
            f"database after {jobs} jobs, STORAGE_BUDGET_MB={BUDGET_MB}",
            f"{capped.final_bytes / MB:.0f} MB (peak {capped.peak_bytes / MB:.0f} MB)",
            f"≤ {BUDGET_MB} MB",
            f"{where}; {capped.evicted_jobs} jobs' images let go of for the budget, "
            f"{capped.holding_images} still hold images; saved characters (kept) "
            f"{capped.saved_bytes / MB:.0f} MB; owner warned {capped.warnings} time(s); "
            f"{capped.seconds:.0f} s",
        ),
    ]


def _print(rows: list[Row]) -> None:
    widths = [max(len(getattr(row, f)) for row in rows) for f in ("measure", "value", "goal")]
    header = ("measure", "value", "goal")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  detail")
    for row in rows:
        cells = (row.measure, row.value, row.goal)
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  " + row.detail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 jobs over 15 days")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on PostgreSQL: a server where the bench may create and drop a database",
    )
    args = parser.parse_args()
    _print(asyncio.run(storage_rows(args.quick, args.postgres)))


if __name__ == "__main__":
    main()
