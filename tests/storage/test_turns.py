"""Turns at SQLite's one connection: the paid path's statements go first, nobody is lost."""

from __future__ import annotations

import asyncio
import contextlib

from bot.storage.turns import Turns, on_the_paid_path


async def test_waiters_on_the_paid_path_go_before_the_others_each_in_order() -> None:
    turns = Turns()
    order: list[str] = []

    async def statement(name: str, *, paid: bool) -> None:
        if paid:
            on_the_paid_path()
        async with turns:
            order.append(name)
            await asyncio.sleep(0)

    async with turns:  # held while everyone queues up
        waiting = [
            asyncio.create_task(statement("request 1", paid=False)),
            asyncio.create_task(statement("request 2", paid=False)),
            asyncio.create_task(statement("job 1", paid=True)),
            asyncio.create_task(statement("job 2", paid=True)),
        ]
        await asyncio.sleep(0.01)
    await asyncio.gather(*waiting)

    assert order == ["job 1", "job 2", "request 1", "request 2"]


async def test_a_waiter_cancelled_gives_its_turn_to_the_next() -> None:
    turns = Turns()
    entered: list[str] = []

    async def statement(name: str) -> None:
        async with turns:
            entered.append(name)

    async with turns:
        cancelled = asyncio.create_task(statement("cancelled"))
        after = asyncio.create_task(statement("after"))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
    await asyncio.wait_for(after, timeout=1)

    assert entered == ["after"]
    async with turns:  # free again
        pass


async def test_one_at_a_time() -> None:
    turns = Turns()
    inside = 0
    most = 0

    async def statement(paid: bool) -> None:
        nonlocal inside, most
        if paid:
            on_the_paid_path()
        async with turns:
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(statement(n % 3 == 0) for n in range(30)))
    assert most == 1
