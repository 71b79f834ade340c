"""A sheet's panels stored together: one quota decision for all of them, one cooldown, and a
Confirm heard twice (two processes, a retried commit) stores them once."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.domain.quotas import OverQuota, QuotaRules
from bot.storage.cooldown_store import CoolingDown
from bot.storage.job_store import NewJob, Store
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


async def jobs_of(job_store: Store) -> list[int]:
    rows = await job_store.database.fetch(
        "SELECT sheet_position FROM jobs WHERE requester_id = $1 ORDER BY id", USER
    )
    return [row["sheet_position"] for row in rows]


async def test_all_panels_fit_or_none_is_stored(store: Store) -> None:  # noqa: F811
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


async def test_a_confirm_heard_twice_stores_the_panels_once(store: Store) -> None:  # noqa: F811
    sheet = panels(4, 300)
    first, second = await asyncio.gather(
        store.add_jobs(sheet, [CHARACTER], quotas=rules(10), cooldown_seconds=60),
        store.add_jobs(sheet, [CHARACTER], quotas=rules(10), cooldown_seconds=60),
        return_exceptions=True,
    )
    assert first == second and len(first) == 4, (first, second)
    assert await jobs_of(store) == [0, 1, 2, 3]
