"""How long the quota decision takes: `JobStore.add_job` with every quota set (the member's
limit, the server's cap, the budget, the queue length), timed in this process against a real
database, with one inserter or several at once, each on its own connection as each process of
the bot has.

The ledger holds a busy day (2,000 billed calls from 100 users in 10 servers); every job
inserted is cancelled right after (untimed), so the queue stays short, as it is in steady state.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from bench.claims import new_job
from bot.domain.quotas import QuotaRules
from bot.storage.database import connect
from bot.storage.job_store import JobStore

LEDGER_ROWS, PEOPLE, SERVERS = 2000, 100, 10
# Room for everything: the bench times the decision, not refusals.
ROOMY = QuotaRules(member_limit=10**9, server_cap=10**9, budget=1e12, price=0.58, max_queued=10**9)


async def time_decisions(url: str, *, inserts: int, inserters: int) -> list[float]:
    """Seconds per `add_job`, all inserters together."""
    stores = [JobStore(await connect(url)) for _ in range(inserters)]
    try:
        await stores[0].migrate()
        await _fill_ledger(stores[0], time.time())
        ids = itertools.count(1)
        seconds: list[float] = []

        async def insert(store: JobStore) -> None:
            for _ in range(inserts // inserters):
                n = next(ids)
                job = new_job(1000 + n % PEOPLE, n, time.time())
                started = time.perf_counter()
                job_id = await store.add_job(job, [], quotas=ROOMY)
                seconds.append(time.perf_counter() - started)
                await store.cancel(job_id, time.time())

        await asyncio.gather(*(insert(store) for store in stores))
        return seconds
    finally:
        for store in stores:
            await store.close()


async def _fill_ledger(store: JobStore, now: float) -> None:
    for n in range(LEDGER_ROWS):
        requester = await store.ledger.requester(1000 + n % PEOPLE)
        await store.database.execute(
            "INSERT INTO spend_ledger (guild_id, requester_key, cost, at, billed)"
            " VALUES ($1, $2, $3, $4, $5)",
            n % SERVERS,
            requester.key,
            0.58,
            now - n * 40.0,
            True,
        )
