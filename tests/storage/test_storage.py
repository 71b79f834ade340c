"""Images stored once and kept only while they serve, on SQLite and on a real PostgreSQL: the
images table, the end of a job, migration 9's move of the bytes, and the storage sweep."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.domain.quotas import DAY_SECONDS
from bot.domain.retention import IMAGE_SHARE, Retention
from bot.domain.tickets import Ticket
from bot.storage import job_store as states
from bot.storage.character_store import CharacterStore
from bot.storage.database import connect, migrate
from bot.storage.job_queue import Limits, SharedQueue
from bot.storage.job_store import Job, JobStore, NewJob, StoredImage
from bot.storage.migrations import MIGRATIONS
from bot.storage.retention import StorageKeeper
from tests.storage.test_store import new_job

LIMITS = Limits(max_concurrency=10, rpm=1000, lease_seconds=15)
DAY = DAY_SECONDS


def image(role: str, data: bytes, **kwargs: Any) -> StoredImage:
    return StoredImage(role, "png", 64, 64, data, **kwargs)


def made_from(parent_id: int, *, requester: int, created_at: float = 1000.0) -> NewJob:
    """A Reroll or New pose of the result of `parent_id`."""
    return dataclasses.replace(
        new_job(requester=requester, created_at=created_at), parent_job_id=parent_id
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[JobStore]:
    job_store = JobStore(await connect(database_url))
    await job_store.migrate()
    try:
        yield job_store
    finally:
        await job_store.close()


async def one(store: JobStore, sql: str, *args: Any) -> Any:
    [row] = await store.database.fetch(sql, *args)
    return next(iter(row.values()))


async def image_hashes(store: JobStore) -> set[str]:
    return {row["sha256"] for row in await store.database.fetch("SELECT sha256 FROM images")}


async def deliver(store: JobStore, job_id: int, result: bytes, now: float) -> Job:
    """Run a queued job through to delivered at `now`, as a worker would."""
    claim = await SharedQueue(store.database).claim("worker", now, LIMITS, start_new=True)
    [job] = [job for job in claim.started if job.id == job_id]
    assert await store.set_ticket(job, Ticket("r", "http://api/status", "http://api/result"))
    assert await store.save_result(job, image("result", result), {}, now)
    assert await store.mark_delivered(job, message_id=job_id + 1000, now=now)
    delivered = await store.job(job_id)
    assert delivered is not None
    return delivered


class Alerts:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def __call__(self, text: str) -> None:
        self.sent.append(text)


def keeper(store: JobStore, now: list[float], **retention: Any) -> tuple[StorageKeeper, Alerts]:
    alerts = Alerts()
    sweeper = StorageKeeper(
        store,
        SharedQueue(store.database),
        Retention(**retention),
        owner="sweeper",
        alert=alerts,
        clock=lambda: now[0],
    )
    return sweeper, alerts


# -- each image stored once -------------------------------------------------------------------


async def test_the_same_bytes_are_stored_once_whoever_uses_them(store: JobStore) -> None:
    upload = b"\x89PNG the same character"
    characters = CharacterStore(store.database, max_per_user=5)
    first = await store.add_job(new_job(requester=1), [image("character", upload)])
    again = await store.add_job(new_job(requester=2), [image("character", upload)])
    await characters.save(
        owner_id=3,
        guild_id=1,
        name="Aria",
        description="",
        shared=False,
        image_format="png",
        width=64,
        height=64,
        data=upload,
        now=1.0,
    )
    assert await image_hashes(store) == {sha(upload)}
    assert await one(store, "SELECT bytes FROM images") == len(upload)
    for job_id in (first, again):
        assert (await store.images(job_id))["character"].data == upload
    saved = await characters.find(3, 1, "aria")
    assert saved is not None
    assert saved.data == upload


async def test_the_database_refuses_to_delete_an_image_still_used(store: JobStore) -> None:
    upload = b"\x89PNG in use"
    await store.add_job(new_job(), [image("character", upload)])
    refused = (sqlite3.IntegrityError, asyncpg.ForeignKeyViolationError)
    with pytest.raises(refused):
        await store.database.execute("DELETE FROM images WHERE sha256 = $1", sha(upload))
    characters = CharacterStore(store.database, max_per_user=5)
    saved = b"\x89PNG saved"
    await characters.save(
        owner_id=3,
        guild_id=1,
        name="Aria",
        description="",
        shared=False,
        image_format="png",
        width=1,
        height=1,
        data=saved,
        now=1.0,
    )
    with pytest.raises(refused):
        await store.database.execute("DELETE FROM images WHERE sha256 = $1", sha(saved))


# -- what a job keeps when it ends --------------------------------------------------------------


async def test_an_ended_job_keeps_no_token_no_urls_and_only_what_serves(store: JobStore) -> None:
    delivered_id = await store.add_job(
        new_job(requester=1), [image("character", b"kept", source_url="https://cdn/a.png")]
    )
    delivered = await deliver(store, delivered_id, b"result", now=100.0)
    assert (delivered.token, delivered.ticket) == ("", None)
    kept = await store.images(delivered_id)
    assert set(kept) == {"character", "result"}, "a delivered job keeps its images for a while"
    assert kept["character"].source_url is None, "Discord's link to the upload is forgotten"

    cancelled = await store.add_job(new_job(requester=2), [image("character", b"cancelled")])
    assert await store.cancel(cancelled, now=101.0)
    failed = await store.add_job(new_job(requester=3), [image("character", b"failed")])
    [job] = (await SharedQueue(store.database).claim("w", 102.0, LIMITS, start_new=True)).started
    assert job.id == failed
    assert await store.fail(job, "the API said no", now=103.0)
    for job_id in (cancelled, failed):
        assert await store.images(job_id) == {}
        ended = await store.job(job_id)
        assert ended is not None
        assert ended.token == ""
    assert await image_hashes(store) == {sha(b"kept"), sha(b"result")}, "inputs deleted at once"


async def test_a_reroll_adds_no_bytes_and_counts_as_a_use(store: JobStore) -> None:
    parent_id = await store.add_job(new_job(requester=1), [image("character", b"upload")])
    parent = await deliver(store, parent_id, b"result one", now=100.0)
    before = await one(store, "SELECT SUM(bytes) FROM images")
    inputs = await store.images(parent.id)
    reroll = made_from(parent.id, requester=2, created_at=500.0)
    child = await store.add_job(reroll, [inputs["character"]])
    assert await one(store, "SELECT SUM(bytes) FROM images") == before
    [row] = await store.database.fetch("SELECT used_at FROM jobs WHERE id = $1", parent.id)
    assert row["used_at"] == 500.0, "a Reroll is a use of the result it came from"
    [link] = await store.database.fetch(
        "SELECT uploaded_by FROM job_images WHERE job_id = $1 AND role = 'character'", child
    )
    assert link["uploaded_by"] == 1, "still the first requester's upload"


async def test_forgetting_a_user_takes_their_uploads_out_of_others_jobs(store: JobStore) -> None:
    alice, bob, carol = 1, 2, 3
    upload, own = b"alice's upload", b"bob's own upload"
    alices = await store.add_job(new_job(requester=alice), [image("character", upload)])
    await deliver(store, alices, b"alice's result", now=10.0)
    inputs = await store.images(alices)
    # Bob rerolled Alice's result (delivered); Carol's reroll is still waiting.
    bobs = await store.add_job(
        made_from(alices, requester=bob), [inputs["character"], image("pose", own)]
    )
    await deliver(store, bobs, b"bob's result", now=20.0)
    carols = await store.add_job(made_from(alices, requester=carol), [inputs["character"]])

    assert await store.remove_uploads_of(alice) == 2
    assert (await store.delete_user_data(alice, 30.0)).deleted == 1
    assert set(await store.images(bobs)) == {"pose", "result"}, "Bob's own images stay"
    assert set(await store.images(carols)) == {"character"}, "a waiting job still needs it"

    [started] = (await SharedQueue(store.database).claim("w", 30.0, LIMITS, start_new=True)).started
    assert started.id == carols
    assert await store.save_result(started, image("result", b"carol's result"), {}, 31.0)
    assert await store.mark_delivered(started, message_id=5, now=32.0)
    assert set(await store.images(carols)) == {"result"}, "gone as soon as it ended"
    assert sha(upload) not in await image_hashes(store)
    assert sha(b"alice's result") not in await image_hashes(store)


# -- migration 9 ------------------------------------------------------------------------------


async def test_migration_9_moves_every_image_into_one_table_once(database_url: str) -> None:
    database = await connect(database_url)
    try:
        await migrate(database, MIGRATIONS[:8])
        upload, result = b"\x89PNG shared upload", b"\xff\xd8 a result"
        for job_id, requester, parent, state in (
            (1, 10, None, "delivered"),
            (2, 20, 1, "delivered"),
            (3, 30, None, "queued"),
        ):
            await database.execute(
                "INSERT INTO jobs (id, requester_id, guild_id, channel_id, application_id,"
                " interaction_id, token, token_expires_at, status_message_id, upload_limit,"
                " prompt, negative_prompt, seed, steps, guidance, size, state, created_at,"
                " finished_at, parent_job_id, status_url)"
                " VALUES ($1, $2, 1, 1, 1, $3, 'secret-token', 0, 1, 1, 'p', '', 1, 1, 1,"
                " 'square', $4, $5, $6, $7, 'http://api/status')",
                job_id,
                requester,
                1000 + job_id,
                state,
                float(job_id),
                float(job_id) + 0.5 if state == "delivered" else None,
                parent,
            )
            for role, data in (("character", upload), ("result", result + bytes([job_id]))):
                await database.execute(
                    "INSERT INTO job_images (job_id, role, format, width, height, source_url,"
                    " data) VALUES ($1, $2, 'png', 8, 8, NULL, $3)",
                    job_id,
                    role,
                    data,
                )
        for character_id in (4, 9):
            await database.execute(
                "INSERT INTO characters (id, owner_id, guild_id, name, name_key, description,"
                " shared, format, width, height, data, created_at)"
                " VALUES ($1, 10, 1, $2, $3, '', $4, 'png', 8, 8, $5, 1.0)",
                character_id,
                f"Hero {character_id}",
                f"hero {character_id}",
                False,
                upload,
            )
    finally:
        await database.close()

    store = JobStore(await connect(database_url))
    try:
        await store.migrate()
        versions = await store.database.fetch("SELECT version FROM schema_migrations")
        assert sorted(row["version"] for row in versions) == list(range(1, len(MIGRATIONS) + 1))
        assert await one(store, "SELECT COUNT(*) FROM images") == 4, "one upload, three results"
        assert await one(store, "SELECT COUNT(*) FROM images WHERE sha256 = $1", sha(upload)) == 1
        assert (await store.images(2))["character"].data == upload
        assert (await store.images(3))["result"].data == result + b"\x03"
        [link] = await store.database.fetch(
            "SELECT uploaded_by FROM job_images WHERE job_id = 2 AND role = 'character'"
        )
        assert link["uploaded_by"] == 10, "a Reroll's input stays its first uploader's"
        delivered = await store.job(1)
        queued = await store.job(3)
        assert delivered is not None and queued is not None
        assert (delivered.token, delivered.ticket) == ("", None), "ended: secrets forgotten"
        assert queued.token == "secret-token", "unfinished: still needed"
        characters = CharacterStore(store.database, max_per_user=5)
        hero = await characters.get(9)
        assert hero is not None
        assert (hero.name, hero.data) == ("Hero 9", upload)
        added = await characters.save(
            owner_id=10,
            guild_id=1,
            name="Later",
            description="",
            shared=False,
            image_format="png",
            width=8,
            height=8,
            data=b"new",
            now=2.0,
        )
        assert added.id > 9, "new characters continue after the moved ones"
        tables = {"job_images_before_9", "characters_before_9"}
        for table in tables:
            with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError)):
                await store.database.fetch(f"SELECT 1 FROM {table}")  # noqa: S608
    finally:
        await store.close()


# -- the sweep --------------------------------------------------------------------------------


async def test_the_sweep_keeps_images_for_their_window_after_the_last_use(store: JobStore) -> None:
    now = [1000.0]
    sweeper, _ = keeper(store, now, image_seconds=7 * DAY, history_seconds=30 * DAY)
    old = await deliver(
        store, await store.add_job(new_job(requester=1), [image("character", b"a")]), b"ra", 1000.0
    )
    used = await deliver(
        store, await store.add_job(new_job(requester=2), [image("character", b"b")]), b"rb", 1000.0
    )
    reroll = made_from(used.id, requester=3, created_at=1000.0 + 5 * DAY)
    child = await store.add_job(reroll, [(await store.images(used.id))["character"]])
    await store.cancel(child, now=1000.0 + 5 * DAY)

    now[0] = 1000.0 + 7 * DAY - 1
    report = await sweeper.sweep()
    assert report is not None
    assert report.expired_jobs == 0
    now[0] = 1000.0 + 7 * DAY + 1
    report = await sweeper.sweep()
    assert report is not None
    assert report.expired_jobs == 1
    assert await store.images(old.id) == {}
    assert set(await store.images(used.id)) == {"character", "result"}, "used 5 days in"
    assert await image_hashes(store) == {sha(b"b"), sha(b"rb")}
    assert await store.job(old.id) is not None, "the row stays for the history"
    assert (await store.ledger.spend_since(0.0)).generations == 2

    now[0] = 1000.0 + 36 * DAY
    report = await sweeper.sweep()
    assert report is not None
    assert report.deleted_rows == 3
    assert await store.jobs(states.ENDED) == []
    assert (await store.ledger.spend_since(0.0)).generations == 0, "the ledger past it too"
    assert await image_hashes(store) == set()


async def test_the_sweep_never_touches_unfinished_jobs_or_saved_characters(store: JobStore) -> None:
    now = [5000.0]
    # No window at all and a budget of one byte: everything that may go, goes.
    sweeper, alerts = keeper(store, now, image_seconds=0.0, history_seconds=0.0, budget_bytes=1)
    characters = CharacterStore(store.database, max_per_user=5)
    await characters.save(
        owner_id=1,
        guild_id=1,
        name="Aria",
        description="",
        shared=False,
        image_format="png",
        width=8,
        height=8,
        data=b"saved",
        now=0.0,
    )
    running = await store.add_job(new_job(requester=3, created_at=0.0), [image("character", b"r")])
    generated = await store.add_job(
        new_job(requester=4, created_at=0.0), [image("character", b"g")]
    )
    claim = await SharedQueue(store.database).claim("w", 1.0, LIMITS, start_new=True)
    started = {job.id: job for job in claim.started}
    queued = await store.add_job(new_job(requester=2, created_at=0.0), [image("character", b"q")])
    assert await store.save_result(started[generated], image("result", b"gr"), {}, 2.0)
    delivered = await deliver(
        store, await store.add_job(new_job(requester=5), [image("character", b"d")]), b"rd", 3.0
    )
    now[0] = 5000.0 + 2 * DAY

    report = await sweeper.sweep()
    assert report is not None
    assert await store.images(delivered.id) == {}
    assert set(await store.images(queued)) == {"character"}
    assert set(await store.images(running)) == {"character"}
    assert set(await store.images(generated)) == {"character", "result"}
    saved = await characters.find(1, 1, "Aria")
    assert saved is not None
    assert saved.data == b"saved"
    assert {job.id for job in await store.jobs(states.UNFINISHED)} == {
        queued,
        running,
        generated,
    }
    assert len(alerts.sent) == 1, "over the budget all the same: the owner hears of it"


async def test_the_budget_lets_go_of_the_least_recently_used_first(store: JobStore) -> None:
    now = [100.0]
    jobs = []
    for n in range(4):
        job_id = await store.add_job(new_job(requester=n), [image("character", bytes([n]) * 1000)])
        jobs.append(await deliver(store, job_id, bytes([n]) * 2000, now=100.0 + n))
    total = await one(store, "SELECT SUM(bytes) FROM images")
    assert total == 4 * 3000
    # Room for the images of two jobs: the two used last stay.
    sweeper, _ = keeper(store, now, budget_bytes=round(6000 / IMAGE_SHARE) + 1)
    report = await sweeper.sweep()
    assert report is not None
    assert report.evicted_jobs == 2
    assert [bool(await store.images(job.id)) for job in jobs] == [False, False, True, True]
    assert await one(store, "SELECT SUM(bytes) FROM images") == 6000


async def test_a_sweep_is_one_process_at_a_time(store: JobStore) -> None:
    now = [100.0]
    first, _ = keeper(store, now)
    second = StorageKeeper(
        store,
        SharedQueue(store.database),
        Retention(),
        owner="another",
        alert=Alerts(),
        clock=lambda: now[0],
    )
    assert await first.sweep() is not None
    assert await second.sweep() is None, "the first holds the lease"
    await first.close()
    assert await second.sweep() is not None, "given up at close"


async def test_sqlite_gives_the_space_of_deleted_images_back(tmp_path: Path) -> None:
    store = JobStore(await connect(f"sqlite:///{tmp_path / 'space.db'}"))
    await store.migrate()
    try:
        assert await one(store, "PRAGMA auto_vacuum") == 2, "incremental"
        for n in range(20):
            job_id = await store.add_job(
                new_job(requester=n), [image("character", bytes([n]) * 200_000)]
            )
            await store.cancel(job_id, now=1.0)  # its input goes at once
        now = [2.0]
        sweeper, _ = keeper(store, now)
        report = await sweeper.sweep()
        assert report is not None
        assert report.database_bytes < 1_000_000, "4 MB were written, then deleted"
        assert await one(store, "PRAGMA freelist_count") == 0
    finally:
        await store.close()
    size = (tmp_path / "space.db").stat().st_size
    assert size < 1_000_000, f"the file kept {size} bytes"


async def test_an_old_sqlite_file_is_switched_to_incremental_vacuum(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE t (x)")
    old.commit()
    assert old.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    old.close()
    database = await connect(f"sqlite:///{path}")
    try:
        [row] = await database.fetch("PRAGMA auto_vacuum")
        assert next(iter(row.values())) == 2
    finally:
        await database.close()


async def test_the_owner_hears_when_saved_characters_leave_no_room(tmp_path: Path) -> None:
    store = JobStore(await connect(f"sqlite:///{tmp_path / 'full.db'}"))
    await store.migrate()
    try:
        characters = CharacterStore(store.database, max_per_user=5)
        for n in range(3):
            await characters.save(
                owner_id=1,
                guild_id=1,
                name=f"Hero {n}",
                description="",
                shared=False,
                image_format="png",
                width=8,
                height=8,
                data=bytes([n]) * 1_000_000,
                now=1.0,
            )
        now = [10.0]
        # The images' share is 2.7 MB, the saved characters take 3: the database itself is
        # still under 80 % of the budget, but nothing can be let go of.
        sweeper, alerts = keeper(store, now, budget_bytes=4_500_000)
        report = await sweeper.sweep()
        assert report is not None
        assert report.database_bytes < 0.8 * 4_500_000
        assert report.images_over_budget
        assert len(alerts.sent) == 1
        assert "saved characters take 3 MB" in alerts.sent[0]
        now[0] += DAY - 1
        await sweeper.sweep()
        assert len(alerts.sent) == 1, "once a day"
    finally:
        await store.close()
