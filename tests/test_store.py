"""The job store, on SQLite and on a real PostgreSQL: migrations, every transition, exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import store as states
from bot.database import DatabaseUrlError, connect, describe_url
from bot.pose import PoseOptions
from bot.segmind import Ticket
from bot.store import NewJob, Store, StoredImage

OPTIONS = PoseOptions(
    prompt="a knight, kneeling",
    negative_prompt="blurry",
    seed=2**53 - 1,
    steps=25,
    guidance=7.5,
    size="portrait",
)


def new_job(requester: int = 2**62 + 5, created_at: float = 1000.0) -> NewJob:
    return NewJob(
        requester_id=requester,
        guild_id=1180000000000000003,
        channel_id=1180000000000000004,
        application_id=1180000000000000001,
        interaction_id=1575000000000000000,
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
async def store(database_url: str) -> AsyncIterator[Store]:
    job_store = Store(await connect(database_url))
    await job_store.migrate()
    try:
        yield job_store
    finally:
        await job_store.close()


async def test_migrations_apply_once(database_url: str) -> None:
    for _ in range(2):
        job_store = Store(await connect(database_url))
        await job_store.migrate()
        versions = await job_store.database.fetch("SELECT version FROM schema_migrations")
        await job_store.close()
        assert [row["version"] for row in versions] == [1, 2, 3, 4, 5, 6, 7]


async def test_a_job_comes_back_as_it_went_in(store: Store) -> None:
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


async def test_the_whole_life_of_a_job_is_recorded(store: Store) -> None:
    job_id = await store.add_job(new_job(), [CHARACTER])
    assert await store.start(job_id, now=1010.0)
    assert not await store.start(job_id, now=1011.0), "a running job is not started twice"
    ticket = Ticket("req-1", "http://api/status/1", "http://api/result/1")
    await store.set_ticket(job_id, ticket)
    assert await store.save_result(job_id, RESULT, {"x-cost": "0.58"}, now=1047.0)
    assert not await store.save_result(job_id, RESULT, {}, now=1048.0)
    assert await store.mark_delivered(job_id, message_id=42, now=1048.0)
    assert not await store.mark_delivered(job_id, message_id=43, now=1049.0), "exactly once"
    assert not await store.fail(job_id, "late failure", now=1050.0)
    job = await store.job(job_id)
    assert job is not None
    assert (job.state, job.result_message_id, job.attempts) == (states.DELIVERED, 42, 1)
    assert (job.started_at, job.generated_at, job.finished_at) == (1010.0, 1047.0, 1048.0)
    assert job.ticket == ticket
    assert job.usage == {"x-cost": "0.58"}
    assert (await store.images(job_id))["result"] == RESULT
    assert await store.recent_durations() == [37.0]


async def test_requeue_keeps_the_job_and_counts_attempts(store: Store) -> None:
    job_id = await store.add_job(new_job(), [CHARACTER])
    await store.start(job_id, now=1.0)
    assert await store.requeue(job_id)
    assert not await store.requeue(job_id)
    await store.start(job_id, now=2.0)
    job = await store.job(job_id)
    assert job is not None
    assert (job.state, job.attempts) == (states.RUNNING, 2)


async def test_only_a_queued_job_can_be_cancelled(store: Store) -> None:
    queued = await store.add_job(new_job(), [CHARACTER])
    running = await store.add_job(new_job(), [CHARACTER])
    await store.start(running, now=1.0)
    assert await store.cancel(queued, now=2.0)
    assert not await store.cancel(running, now=2.0), "a running job is already paid for"
    assert not await store.start(queued, now=3.0), "a cancelled job never starts"
    assert [job.id for job in await store.jobs(states.UNFINISHED)] == [running]


async def test_failure_records_its_reason(store: Store) -> None:
    job_id = await store.add_job(new_job(), [CHARACTER])
    await store.start(job_id, now=1.0)
    assert await store.fail(job_id, "channel deleted", now=2.0)
    job = await store.job(job_id)
    assert job is not None
    assert (job.state, job.reason) == (states.FAILED, "channel deleted")


async def test_unfinished_jobs_come_back_oldest_first(store: Store) -> None:
    ids = [await store.add_job(new_job(created_at=float(n)), [CHARACTER]) for n in range(5)]
    await store.start(ids[1], now=10.0)
    await store.cancel(ids[3], now=10.0)
    unfinished = await store.jobs(states.UNFINISHED)
    assert [job.id for job in unfinished] == [ids[0], ids[1], ids[2], ids[4]]
    assert [job.state for job in unfinished][:2] == [states.QUEUED, states.RUNNING]


async def test_forgetting_a_user_removes_their_jobs_and_images(store: Store) -> None:
    mine = await store.add_job(new_job(requester=7), [CHARACTER, POSE])
    theirs = await store.add_job(new_job(requester=8), [CHARACTER])
    assert await store.delete_user_data(7) == 1
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
