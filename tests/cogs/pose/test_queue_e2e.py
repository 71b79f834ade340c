"""The queue as users meet it: fair turns, live positions, the plan's rate, and lost channels."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from typing import Any

import pytest

from bot.posebot import PoseBot
from bot.storage import job_store as states
from bot.storage.job_queue import Claim, SharedQueue
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import accepted, card_text, decode, delivered, png, pose, refused


@pytest.mark.slow  # real generations of 1.5 s; tests/domain/test_fairness.py is the quick one
async def test_one_users_backlog_never_holds_up_other_users_first_jobs(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 1.5  # long enough for every request to be queued before heavy 0 ends
    await start_bot(segmind_max_concurrency=2, segmind_rpm=600, user_cooldown_seconds=0)
    heavy = discord_api.make_user(100, "heavy")
    others = [discord_api.make_user(200 + n, f"other{n}") for n in range(5)]
    requests = [(heavy, f"heavy {n}") for n in range(3)] + [(user, "other") for user in others]
    interactions = []
    for user, prompt in requests:  # one at a time, so the queue's order is the sending order
        interactions.append(await pose(discord_api, user=user, prompt=prompt))
        await accepted(interactions[-1])
    for interaction in interactions:
        await delivered(interaction, timeout=30)
    order = [submit.body["prompt"] for submit in segmind.submits]
    assert order.index("heavy 1") > max(i for i, p in enumerate(order) if p == "other"), order
    assert order.index("heavy 0") == 0


@pytest.mark.slow  # real generations of 4 s; test_pose_e2e.py shows a place quickly
async def test_a_queued_card_follows_its_place(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 4
    await start_bot(segmind_max_concurrency=1, segmind_rpm=600)
    users = [discord_api.make_user(300 + n, f"u{n}") for n in range(3)]
    first = await pose(discord_api, user=users[0])
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    second = await pose(discord_api, user=users[1])
    await second.wait_for(lambda i: "Queued: position 1" in card_text(i))
    third = await pose(discord_api, user=users[2])
    await third.wait_for(lambda i: "Queued: position 2" in card_text(i))
    assert "should start <t:" in card_text(third), "an estimated start is shown"
    await third.wait_for(lambda i: "Queued: position 1" in card_text(i), timeout=15)
    for interaction in (first, second, third):
        await delivered(interaction, timeout=30)


async def test_a_burst_of_requests_each_shows_its_own_place(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 30  # the first request holds the one slot while the burst queues
    await start_bot(segmind_max_concurrency=1, segmind_rpm=600)
    first = await pose(discord_api, user=discord_api.make_user(450, "first"))
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    people = [discord_api.make_user(451 + n, f"p{n}") for n in range(12)]
    burst = await asyncio.gather(*(pose(discord_api, user=person) for person in people))

    def place(interaction: FakeInteraction) -> int | None:
        found = re.search(r"Queued: position (\d+)", card_text(interaction))
        return int(found.group(1)) if found else None

    await discord_api.wait_for(lambda: all(place(i) is not None for i in burst), timeout=20)
    # Cards drawn from shared reads of the queue: each still found its own job in it.
    assert sorted(place(interaction) for interaction in burst) == list(range(1, 13))
    assert card_text(first).startswith("🎨")


async def test_the_slot_a_result_frees_is_taken_by_the_transaction_that_stores_it(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    segmind.latency = 0.5
    await start_bot(segmind_max_concurrency=1, segmind_rpm=600, user_cooldown_seconds=0)
    users = [discord_api.make_user(400 + n, f"u{n}") for n in range(2)]
    first = await pose(discord_api, user=users[0], prompt="first")
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    # From here on the dispatcher's own turns start nothing, as if it never got one.
    dispatcher_claim = SharedQueue.claim

    async def idle_dispatcher(self: SharedQueue, *args: Any, **kwargs: Any) -> Claim:
        return await dispatcher_claim(self, *args, **{**kwargs, "start_new": False})

    monkeypatch.setattr(SharedQueue, "claim", idle_dispatcher)
    second = await pose(discord_api, user=users[1], prompt="second")
    await second.wait_for(lambda i: "Queued: position 1" in card_text(i))

    await delivered(first)
    await delivered(second, timeout=10)
    assert [submit.body["prompt"] for submit in segmind.submits] == ["first", "second"]


async def test_every_job_a_claim_starts_sends_its_own_character(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On SQLite a claim reads the images of the jobs it starts, in its own transaction: here
    # the dispatcher starts two at once, then each result that frees a slot starts one more.
    segmind.latency = 0.3
    held = asyncio.Event()
    dispatcher_claim = SharedQueue.claim

    async def held_back(self: SharedQueue, *args: Any, **kwargs: Any) -> Claim:
        start_new = kwargs.pop("start_new") and held.is_set()
        return await dispatcher_claim(self, *args, start_new=start_new, **kwargs)

    monkeypatch.setattr(SharedQueue, "claim", held_back)
    await start_bot(database_url=database_url, segmind_max_concurrency=2, segmind_rpm=600)
    colours = [(200, 40 * n, 10) for n in range(5)]
    people = [discord_api.make_user(470 + n, f"c{n}") for n in range(len(colours))]
    sent = []
    for n, (person, colour) in enumerate(zip(people, colours, strict=True)):
        sent.append(
            await pose(discord_api, user=person, prompt=f"p{n}", character=png(colour=colour))
        )
        await sent[-1].wait_for(lambda i: "Queued: position" in card_text(i))
    held.set()
    for interaction in sent:
        await delivered(interaction, timeout=30)
    posed = {
        submit.body["prompt"]: decode(base64.b64decode(submit.body["ip_image"])).getpixel((5, 5))
        for submit in segmind.submits
    }
    assert posed == {f"p{n}": colour for n, colour in enumerate(colours)}
    assert segmind.submits[1].started_at - segmind.submits[0].started_at < 0.2, "together"


@pytest.mark.parametrize("failure", ["channel_deleted", "channel_forbidden"])
async def test_a_late_result_for_a_lost_channel_fails_with_the_reason_logged(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    caplog.set_level(logging.INFO)
    offset = [0.0]
    segmind.latency = 0.5
    bot: PoseBot = await start_bot(clock=lambda: time.time() + offset[0])
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    offset[0] = 15 * 60
    interaction.expired = True
    setattr(discord_api, failure, True)
    await discord_api.wait_for(
        lambda: any("failed" in r.getMessage() for r in caplog.records), timeout=10
    )
    [job] = await bot.store.jobs([states.FAILED])
    assert job.reason is not None
    assert ("Unknown Channel" if failure == "channel_deleted" else "Missing Permissions") in (
        job.reason
    )
    assert not discord_api.messages_with_files()


@pytest.mark.slow
async def test_configured_at_the_plans_rate_the_bot_gets_no_429(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    # The fake enforces 3 requests in any 60 s, as a plan would; the bot is told the same.
    limited = FakeSegmind(latency=0.1, rpm=3)
    await limited.start()
    try:
        await start_bot(segmind_base_url=limited.base_url, segmind_rpm=3, user_cooldown_seconds=0)
        users = [discord_api.make_user(400 + n, f"r{n}") for n in range(5)]
        requests = [await pose(discord_api, user=user) for user in users]
        for interaction in requests:
            await delivered(interaction, timeout=120)
        assert limited.rate_limited_count == 0
        starts = sorted(submit.started_at for submit in limited.submits)
        assert starts[3] - starts[0] >= 60, "the fourth request waited for the window"
    finally:
        await limited.close()


def cancel_id(interaction: FakeInteraction) -> str:
    card = interaction.original
    assert card is not None
    for row in card.components:
        for component in row.get("components", []):
            if component.get("custom_id", "").startswith("pose:cancel:"):
                return component["custom_id"]
    raise AssertionError(f"no Cancel button on {card_text(interaction)!r}")


async def test_cancel_is_for_the_requester_only_costs_nothing_and_survives_a_restart(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault(kind="hang"))
    bot: PoseBot = await start_bot(segmind_max_concurrency=1, user_cooldown_seconds=60)
    owner, other = discord_api.make_user(500, "owner"), discord_api.make_user(501, "other")
    blocker = await pose(discord_api, user=other)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    queued = await pose(discord_api, user=owner)
    await queued.wait_for(lambda i: "Queued: position 1" in card_text(i))

    await asyncio.wait_for(bot.shutdown(grace=0.2), timeout=15)
    bot = await start_bot(segmind_max_concurrency=1, user_cooldown_seconds=60)
    assert queued.original is not None

    stranger_press = await discord_api.press(queued.original, cancel_id(queued), user=other)
    assert "Only the person who asked" in await refused(stranger_press)
    assert "Queued" in card_text(queued)

    owner_press = await discord_api.press(queued.original, cancel_id(queued), user=owner)
    await queued.wait_for(lambda i: card_text(i).startswith("🚫 Cancelled"))
    assert queued.original.components == []
    assert owner_press.callbacks[0][0] == 7, "the card itself was updated"

    await delivered(blocker, timeout=30)
    assert len(segmind.submits) == 2, "the blocker ran again after the restart; nothing else"
    assert (await bot.runner.queue.snapshot(bot.clock())).order == []
    again = await pose(discord_api, user=owner)
    await accepted(again)  # a cancelled request gives its cooldown back
    await delivered(again, timeout=30)


async def test_a_channel_result_posted_again_after_a_crash_still_shows_once(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 0.5
    bot: PoseBot = await start_bot()
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    # The token has died while the image was made: the result goes to the channel.
    await bot.store.database.execute("UPDATE jobs SET token_expires_at = 0")
    interaction.expired = True
    await discord_api.wait_for(lambda: len(discord_api.channel_messages) == 1)
    [job] = await stored_jobs(bot.store, states.DELIVERED)
    # A crash between posting and recording the post: the store still says "generated".
    await bot.store.database.execute("UPDATE jobs SET state = 'generated' WHERE id = $1", job.id)
    await asyncio.wait_for(bot.shutdown(grace=1), timeout=15)

    restarted: PoseBot = await start_bot()
    await discord_api.wait_for(lambda: discord_api.deduplicated_nonces == 1)
    assert len(discord_api.channel_messages) == 1, "Discord dropped the second copy"
    [again] = await stored_jobs(restarted.store, states.DELIVERED)
    assert again.result_message_id == discord_api.channel_messages[0].id
    assert len(segmind.submits) == 1, "a generated result is never paid for again"
