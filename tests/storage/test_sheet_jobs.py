"""A sheet's panels stored together: one quota decision for all of them, one cooldown, and a
Confirm heard twice (two processes, a retried commit) stores them once."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.domain.quotas import OverQuota, QuotaRules
from bot.domain.sheets import Kind
from bot.storage.cooldown_store import CoolingDown
from bot.storage.job_store import JobStore, NewJob
from bot.storage.sheet_store import POSTING_HOLD_SECONDS, NewSheet, SheetStore
from tests.storage.test_store import CHARACTER, new_job, store  # noqa: F401 - a fixture

USER = 77


def panels(count: int, first_id: int) -> list[NewJob]:
    job = new_job(requester=USER)
    return [
        dataclasses.replace(job, interaction_id=-(first_id + n), sheet_id=1, sheet_position=n)
        for n in range(count)
    ]


def rules(member_limit: int) -> QuotaRules:
    return QuotaRules(
        member_limit=member_limit, server_cap=None, budget=None, price=0.58, max_queued=3
    )


async def jobs_of(job_store: JobStore) -> list[int]:
    rows = await job_store.database.fetch(
        "SELECT sheet_position FROM jobs WHERE requester_id = $1 ORDER BY id", USER
    )
    return [row["sheet_position"] for row in rows]


async def test_all_panels_fit_or_none_is_stored(store: JobStore) -> None:  # noqa: F811
    with pytest.raises(OverQuota) as refused:
        await store.add_jobs(panels(6, 100), [CHARACTER], quotas=rules(5))
    assert refused.value.refusal.values == {
        "count": 6,
        "left": 5,
        "quota": "Your daily limit",
    }
    assert await jobs_of(store) == []
    ids = await store.add_jobs(panels(6, 200), [CHARACTER], quotas=rules(6), cooldown_seconds=60)
    assert len(ids) == 6 and await jobs_of(store) == [0, 1, 2, 3, 4, 5]
    with pytest.raises(CoolingDown):  # the sheet took the cooldown, once
        await store.add_job(
            new_job(requester=USER, created_at=1001.0), [CHARACTER], cooldown_seconds=60
        )


async def test_a_confirm_heard_twice_stores_the_panels_once(store: JobStore) -> None:  # noqa: F811
    sheet = panels(4, 300)
    first, second = await asyncio.gather(
        store.add_jobs(sheet, [CHARACTER], quotas=rules(10), cooldown_seconds=60),
        store.add_jobs(sheet, [CHARACTER], quotas=rules(10), cooldown_seconds=60),
        return_exceptions=True,
    )
    assert first == second and len(first) == 4, (first, second)
    assert await jobs_of(store) == [0, 1, 2, 3]


async def test_two_processes_never_post_one_sheet_twice(store: JobStore) -> None:  # noqa: F811
    sheets = SheetStore(store.database)
    sheet_id = await sheets.create(
        NewSheet(
            interaction_id=900,
            requester_id=USER,
            guild_id=1,
            channel_id=2,
            character_id=None,
            character_name="Mira",
            kind=Kind.TURNAROUND,
            guild_locale="en-US",
            private=False,
            upload_limit=10_000_000,
            created_at=1000.0,
        )
    )
    # Every process polls for due sheets: at the same moment, one of them takes the posting.
    taken = await asyncio.gather(*(sheets.claim_posting(sheet_id, 5, 2000.0) for _ in range(4)))
    assert sorted(taken) == [False, False, False, True]
    # A posting that died is taken again once its hold ends; a finished one is not.
    assert not await sheets.claim_posting(sheet_id, 5, 2001.0)
    assert await sheets.claim_posting(sheet_id, 5, 2000.0 + POSTING_HOLD_SECONDS + 1)
    await sheets.mark_posted(sheet_id, 5, message_id=42)
    assert not await sheets.claim_posting(sheet_id, 5, 5000.0)
    # A redone panel (a newer job) makes it due again, for one process.
    assert await sheets.claim_posting(sheet_id, 6, 5000.0)
    assert not await sheets.claim_posting(sheet_id, 6, 5000.0)
