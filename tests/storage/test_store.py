"""The job store, on SQLite and on a real PostgreSQL: migrations, every transition, exactly once."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.domain.pose_request import PoseOptions
from bot.domain.tickets import Ticket
from bot.storage import job_store as states
from bot.storage.database import DatabaseUrlError, Executor, connect, describe_url, migrate
from bot.storage.job_queue import Limits, SharedQueue
from bot.storage.job_store import Job, JobStore, NewJob, StoredImage
from bot.storage.migrations import MIGRATIONS, MigrationError, load

OPTIONS = PoseOptions(
    prompt="a knight, kneeling",
    negative_prompt="blurry",
    seed=2**53 - 1,
    steps=25,
    guidance=7.5,
    size="portrait",
)


_interactions = itertools.count(1575000000000000000)


def new_job(requester: int = 2**62 + 5, created_at: float = 1000.0) -> NewJob:
    return NewJob(
        requester_id=requester,
        guild_id=1180000000000000003,
        channel_id=1180000000000000004,
        application_id=1180000000000000001,
        interaction_id=next(_interactions),
        token="interaction-token-abc",
        token_expires_at=created_at + 900,
        status_message_id=1575000000000000001,
        upload_limit=10 * 1024 * 1024,
        options=OPTIONS,
        created_at=created_at,
    )


CHARACTER = StoredImage("character", "png", 64, 48, b"\x89PNG character bytes", "http://cdn/a.png")
POSE = StoredImage("pose", "jpeg", 10, 10, b"\xff\xd8\xff pose bytes")
RESULT = StoredImage("result", "jpeg", 832, 1216, b"\xff\xd8\xff result bytes")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[JobStore]:
    job_store = JobStore(await connect(database_url))
    await job_store.migrate()
    try:
        yield job_store
    finally:
        await job_store.close()


async def test_migrations_apply_once(database_url: str) -> None:
    for _ in range(2):
        job_store = JobStore(await connect(database_url))
        await job_store.migrate()
        versions = await job_store.database.fetch("SELECT version FROM schema_migrations")
        await job_store.close()
        assert [row["version"] for row in versions] == list(range(1, len(MIGRATIONS) + 1))


# A script that naive splitting on `;` (or numbering of `?`) would break: literals, comments, a
# SQLite trigger and a PostgreSQL function body, and a migration that is a Python step.
NOTES = """
-- notes; are they kept? yes
CREATE TABLE notes (id {ID}, body TEXT NOT NULL, data {BLOB});
INSERT INTO notes (body) VALUES ('it''s; really? $1 yes');
"""
COUNTED_SQLITE = """
CREATE TABLE counts (n INTEGER NOT NULL);
INSERT INTO counts (n) VALUES (0);
CREATE TRIGGER counted AFTER INSERT ON notes BEGIN
    UPDATE counts SET n = n + 1;
    UPDATE notes SET body = body || ';?' WHERE id = NEW.id;
END;
"""
COUNTED_POSTGRES = """
CREATE TABLE counts (n INTEGER NOT NULL);
INSERT INTO counts (n) VALUES (0);
CREATE FUNCTION counted() RETURNS trigger AS $$
BEGIN
    UPDATE counts SET n = n + 1;
    NEW.body := NEW.body || ';?';
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER counted BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION counted();
"""


async def noted(tx: Executor, dialect: str) -> None:
    await tx.execute("INSERT INTO notes (body, data) VALUES ($1, $2)", f"{dialect}; ok?", b";?")


def migrations_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, sql in files.items():
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


async def test_a_migration_runs_as_written_whatever_its_literals_hold(
    database_url: str, tmp_path: Path
) -> None:
    folder = migrations_folder(
        tmp_path / "migrations",
        {
            "0001_notes.sql": NOTES,
            "0002_counted.sqlite.sql": COUNTED_SQLITE,
            "0002_counted.postgres.sql": COUNTED_POSTGRES,
        },
    )
    database = await connect(database_url)
    try:
        assert await migrate(database, load(folder, {"0003_noted": noted})) == 3
        notes = await database.fetch("SELECT body, data FROM notes ORDER BY id")
        [counts] = await database.fetch("SELECT n FROM counts")
        versions = await database.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await database.close()
    dialect = database.dialect
    assert [(row["body"], row["data"]) for row in notes] == [
        ("it's; really? $1 yes", None),
        (f"{dialect}; ok?;?", b";?"),
    ]
    assert counts["n"] == 1
    assert [row["version"] for row in versions] == [1, 2, 3]


async def test_migrations_that_fail_leave_nothing_behind(database_url: str, tmp_path: Path) -> None:
    folder = migrations_folder(
        tmp_path / "migrations",
        {
            "0001_notes.sql": NOTES,
            "0002_broken.sql": "INSERT INTO notes (body) VALUES ('a;b');\n"
            "INSERT INTO nowhere VALUES (1);",
        },
    )
    database = await connect(database_url)
    try:
        with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError)):
            await migrate(database, load(folder, {}))
        with pytest.raises((sqlite3.OperationalError, asyncpg.UndefinedTableError)):
            await database.fetch("SELECT body FROM notes")  # not even migration 1 stayed
    finally:
        await database.close()


def test_a_migrations_folder_says_one_clear_thing(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="without gaps"):
        load(migrations_folder(tmp_path / "gap", {"0001_a.sql": "", "0003_c.sql": ""}), {})
    with pytest.raises(MigrationError, match="expected NNNN_name"):
        load(migrations_folder(tmp_path / "name", {"0001_a.mysql.sql": ""}), {})
    with pytest.raises(MigrationError, match="two parts of one name"):
        load(migrations_folder(tmp_path / "twice", {"0001_a.sql": "", "0001_a.sqlite.sql": ""}), {})
    shipped = [(migration.number, len(migration.parts)) for migration in MIGRATIONS]
    assert shipped == [(n, 1) for n in range(1, 9)] + [(9, 4), (10, 1), (11, 1), (12, 2)] + [
        (n, 1) for n in range(13, 17)
    ]
    assert len(MIGRATIONS[8].steps("sqlite")) == 3, "autovacuum's settings are PostgreSQL's"


async def test_booleans_come_back_as_booleans_from_both(database_url: str) -> None:
    database = await connect(database_url)
    try:
        await database.execute("CREATE TABLE flags (n INTEGER, flag BOOLEAN)")
        for n, flag in ((1, True), (2, False), (3, None)):
            await database.execute("INSERT INTO flags (n, flag) VALUES ($1, $2)", n, flag)
        rows = await database.fetch("SELECT flag FROM flags ORDER BY n")
        [same] = await database.fetch("SELECT n FROM flags WHERE flag = $1 AND n = $2", True, 1)
    finally:
        await database.close()
    assert [row["flag"] for row in rows] == [True, False, None]
    assert all(type(row["flag"]) is bool for row in rows[:2])
    assert same["n"] == 1


async def test_a_transaction_is_kept_whole_or_not_at_all_by_both(database_url: str) -> None:
    database = await connect(database_url)
    try:
        await database.execute("CREATE TABLE t (n INTEGER, flag BOOLEAN)")

        async def two_rows(tx: Executor) -> list[dict[str, object]]:
            await tx.execute("INSERT INTO t (n, flag) VALUES ($1, $2)", 1, True)
            await tx.execute("INSERT INTO t (n, flag) VALUES ($1, $2)", 2, False)
            return await tx.fetch("SELECT n, flag FROM t ORDER BY n")

        async def one_row_then_a_mistake(tx: Executor) -> None:
            await tx.execute("INSERT INTO t (n) VALUES ($1)", 3)
            raise ValueError("the request's own fault")

        seen_inside = await database.run(two_rows)
        with pytest.raises(ValueError, match="own fault"):
            await database.run(one_row_then_a_mistake)
        kept = await database.fetch("SELECT n FROM t ORDER BY n")
    finally:
        await database.close()
    assert seen_inside == [{"n": 1, "flag": True}, {"n": 2, "flag": False}]
    assert [row["n"] for row in kept] == [1, 2]


async def test_a_sqlite_transaction_that_awaits_anything_but_its_statements_says_so(
    tmp_path: Path,
) -> None:
    # SQLite runs a transaction's work in its own thread, in one go: work that waited there
    # for the event loop would hang, so it fails, and leaves nothing and no lock behind.
    database = await connect(f"sqlite:///{tmp_path / 'one-trip.db'}")
    try:
        await database.execute("CREATE TABLE t (n INTEGER)")

        async def waits_for_the_loop(tx: Executor) -> None:
            await tx.execute("INSERT INTO t (n) VALUES ($1)", 1)
            await asyncio.sleep(0)

        with pytest.raises(RuntimeError, match="awaited something other than its statements"):
            await database.run(waits_for_the_loop)
        await database.run(lambda tx: tx.execute("INSERT INTO t (n) VALUES ($1)", 2))
        kept = await database.fetch("SELECT n FROM t")
    finally:
        await database.close()
    assert [row["n"] for row in kept] == [2]


async def test_a_job_comes_back_as_it_went_in(store: JobStore) -> None:
    job_id = await store.add_job(new_job(), [CHARACTER, POSE])
    job = await store.job(job_id)
    assert job is not None
    assert job.state == states.QUEUED
    assert job.options == OPTIONS
    assert job.requester_id == 2**62 + 5
    assert job.token == "interaction-token-abc"
    assert job.token_expires_at == 1900.0
    assert job.ticket is None
    assert "interaction-token-abc" not in repr(job)
    images = await store.images(job_id)
    assert images == {"character": CHARACTER, "pose": POSE}


LIMITS = Limits(max_concurrency=4, rpm=100, lease_seconds=15)


async def start(store: JobStore, now: float, owner: str = "worker-a") -> list[Job]:
    claim = await SharedQueue(store.database).claim(owner, now, LIMITS, start_new=True)
    return claim.started


async def test_the_whole_life_of_a_job_is_recorded(store: JobStore) -> None:
    job_id = await store.add_job(new_job(), [CHARACTER])
    [job] = await start(store, now=1010.0)
    assert (job.id, job.state, job.owner, job.lease_until) == (
        job_id,
        states.RUNNING,
        "worker-a",
        1025.0,
    )
    assert await start(store, now=1011.0) == [], "a running job is not started twice"
    ticket = Ticket("req-1", "http://api/status/1", "http://api/result/1")
    assert await store.set_ticket(job, ticket)
    assert await store.save_result(job, RESULT, {"x-cost": "0.58"}, now=1047.0)
    assert not await store.save_result(job, RESULT, {}, now=1048.0)
    assert await store.mark_delivered(job, message_id=42, now=1048.0)
    assert not await store.mark_delivered(job, message_id=43, now=1049.0), "exactly once"
    assert not await store.fail(job, "late failure", now=1050.0)
    stored = await store.job(job_id)
    assert stored is not None
    assert (stored.state, stored.result_message_id, stored.attempts) == (states.DELIVERED, 42, 1)
    assert (stored.started_at, stored.generated_at, stored.finished_at) == (1010.0, 1047.0, 1048.0)
    assert stored.ticket is None, "the API's status URLs are forgotten when the job ends"
    assert stored.token == "", "and so is the interaction token"
    assert stored.usage == {"x-cost": "0.58"}
    assert stored.owner is None, "a delivered job belongs to no process"
    assert (await store.images(job_id))["result"] == RESULT
    assert await store.recent_durations() == [37.0]


async def test_one_interaction_is_one_job(store: JobStore) -> None:
    job = new_job()
    first = await store.add_job(job, [CHARACTER])
    assert await store.add_job(job, [CHARACTER, POSE]) == first
    assert len(await store.jobs(states.UNFINISHED)) == 1
    assert set(await store.images(first)) == {"character"}


async def test_requeue_keeps_the_job_and_counts_attempts(store: JobStore) -> None:
    job_id = await store.add_job(new_job(), [CHARACTER])
    [job] = await start(store, now=1.0)
    queue = SharedQueue(store.database)
    assert await queue.requeue(job)
    assert not await queue.requeue(job)
    [again] = await start(store, now=2.0)
    assert (again.id, again.state, again.attempts) == (job_id, states.RUNNING, 2)
    assert not await store.save_result(job, RESULT, {}, now=3.0), "the first attempt is fenced"


async def test_only_a_queued_job_can_be_cancelled(store: JobStore) -> None:
    running = await store.add_job(new_job(requester=1), [CHARACTER])
    [started] = await start(store, now=1.0)
    queued = await store.add_job(new_job(requester=1), [CHARACTER])
    assert started.id == running
    assert await store.cancel(queued, now=2.0)
    assert not await store.cancel(running, now=2.0), "a running job is already paid for"
    assert await start(store, now=3.0) == [], "a cancelled job never starts"
    assert [job.id for job in await store.jobs(states.UNFINISHED)] == [running]


async def test_failure_records_its_reason(store: JobStore) -> None:
    job_id = await store.add_job(new_job(), [CHARACTER])
    [job] = await start(store, now=1.0)
    assert await store.fail(job, "channel deleted", now=2.0)
    stored = await store.job(job_id)
    assert stored is not None
    assert (stored.state, stored.reason) == (states.FAILED, "channel deleted")


async def test_unfinished_jobs_come_back_oldest_first(store: JobStore) -> None:
    ids = [
        await store.add_job(new_job(requester=n, created_at=float(n)), [CHARACTER])
        for n in range(5)
    ]
    await store.cancel(ids[3], now=10.0)
    await store.cancel(ids[0], now=10.0)
    claim = await SharedQueue(store.database).claim("w", 10.0, Limits(1, 100, 15), start_new=True)
    [started] = claim.started
    assert started.id == ids[1]
    unfinished = await store.jobs(states.UNFINISHED)
    assert [job.id for job in unfinished] == [ids[1], ids[2], ids[4]]
    assert [job.state for job in unfinished] == [states.RUNNING, states.QUEUED, states.QUEUED]


async def test_forgetting_a_user_removes_their_jobs_and_images(store: JobStore) -> None:
    mine = await store.add_job(new_job(requester=7), [CHARACTER, POSE])
    theirs = await store.add_job(new_job(requester=8), [CHARACTER])
    forgotten = await store.delete_user_data(7, 1.0)
    assert [job.id for job in forgotten.cancelled] == [mine]  # it was waiting
    assert await store.job(mine) is None
    assert await store.images(mine) == {}
    assert await store.job(theirs) is not None
    rows = await store.database.fetch("SELECT COUNT(*) AS n FROM job_images")
    assert rows[0]["n"] == 1


async def test_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = await connect("sqlite:///data/jobs.db")
    await relative.close()
    assert (tmp_path / "data" / "jobs.db").exists()
    default = await connect(None)
    await default.close()
    assert (tmp_path / "posebot.db").exists()
    absolute = await connect(f"sqlite:///{tmp_path}/abs.db")  # four slashes in all
    await absolute.close()
    assert (tmp_path / "abs.db").exists()
    for bad in ("mysql://root@localhost/db", "sqlite://relative.db", "sqlite:///", "jobs.db"):
        with pytest.raises(DatabaseUrlError):
            await connect(bad)
    assert describe_url("postgres://user:secret@host:5432/db") == "postgres://user:***@host:5432/db"
    assert "secret" not in describe_url("postgresql://u:secret@h/db")
