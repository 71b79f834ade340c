"""Buttons, forms and commands that fail, are forged, race each other or come from the wrong
place: each one still gets an answer, and only the right message is touched."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

from bot.posebot import PoseBot
from tests.cogs.admin.test_server_admin_e2e import admin
from tests.cogs.pose.test_results_e2e import buttons, save_character
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import accepted, card_text, delivered, png, pose, private_text, refused


def forge(message: FakeMessage, label: str, custom_id: str) -> None:
    """Give the button `label` on `message` another custom_id, as a forged client would send."""
    for row in message.components:
        for component in row.get("components", []):
            if component.get("label") == label:
                component["custom_id"] = custom_id
                return
    raise AssertionError(f"no button {label!r} on {message!r}")


def assert_reference_logged(text: str, caplog: pytest.LogCaptureFixture, cause: str) -> None:
    """The user got the generic answer; its reference leads to the traceback in the log."""
    reference = re.search(r"reference: `([0-9a-f]{8})`", text)
    assert reference, text
    logged = [r for r in caplog.records if reference.group(1) in r.getMessage()]
    assert logged, "the reference is in the log"
    assert logged[0].exc_info is not None, "with the traceback"
    assert cause in str(logged[0].exc_info[1])


async def test_a_button_that_fails_is_answered_privately_with_a_reference(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await start_bot(user_cooldown_seconds=0)
    result = await delivered(await pose(discord_api))

    async def broken(job_id: int) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(bot.store, "job", broken)
    press = await discord_api.press(result, buttons(result)["Delete"])
    assert_reference_logged(await refused(press), caplog, "the database went away")
    assert press.callbacks[0][1]["flags"] & 64, "privately"

    # Reroll answers Discord before it reads anything: its public card is taken down again.
    reroll = await discord_api.press(result, buttons(result)["Reroll"])
    assert_reference_logged(await refused(reroll), caplog, "the database went away")
    assert reroll.original is None or reroll.original.deleted, "nothing left in public"
    assert [m for m in reroll.messages() if not m.ephemeral and not m.deleted] == []


async def test_reroll_and_new_pose_answer_discord_before_a_slow_database(
    start_bot: StartBot, discord_api: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failover's retries can hold a read for seconds: the buttons acknowledge first, so
    Discord's 3 seconds are kept and the request goes through once the database is back."""
    bot = await start_bot(user_cooldown_seconds=0)
    result = await delivered(await pose(discord_api))
    read = bot.store.job

    async def slow(job_id: int) -> Any:
        await asyncio.sleep(3.5)
        return await read(job_id)

    monkeypatch.setattr(bot.store, "job", slow)
    reroll = await discord_api.press(result, buttons(result)["Reroll"])
    await accepted(reroll, timeout=30)
    new_pose = await discord_api.press(result, buttons(result)["New pose"])
    await new_pose.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(new_pose, {"prompt": "now jumping"})
    await accepted(submitted, timeout=30)


async def test_a_form_that_fails_is_answered_privately_with_a_reference(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await start_bot()
    result = await delivered(await pose(discord_api))

    opened = await discord_api.press(result, buttons(result)["Save character"])
    await opened.wait_for(lambda i: i.modal is not None)
    bad_name = await discord_api.submit_modal(opened, {"name": "🐉🐉"})
    assert "start with a letter or digit" in await refused(bad_name), "a UserError's own words"

    async def broken(job_id: int) -> None:
        raise RuntimeError("the images are unreadable")

    monkeypatch.setattr(bot.store, "images", broken)
    opened = await discord_api.press(result, buttons(result)["Save character"])
    await opened.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(opened, {"name": "Hero"})
    assert_reference_logged(await refused(submitted), caplog, "the images are unreadable")


@pytest.mark.parametrize("job_id", ["9" * 100, str(2**63)], ids=["100-digits", "2**63"])
async def test_a_button_naming_an_impossible_job_is_answered(
    start_bot: StartBot, discord_api: FakeDiscord, job_id: str
) -> None:
    await start_bot()
    result = await delivered(await pose(discord_api))
    forge(result, "Delete", f"pose:delete:{job_id}")
    press = await discord_api.press(result, f"pose:delete:{job_id}")
    assert "does not belong to any request" in await refused(press)
    assert not result.deleted


async def test_delete_acts_only_on_its_own_requests_message(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot()
    me, them = discord_api.make_user(71, "me"), discord_api.make_user(72, "them")
    mine = await delivered(await pose(discord_api, user=me))
    theirs = await delivered(await pose(discord_api, user=them))
    # A Delete naming my request, on their result: the requester check alone would pass.
    forge(theirs, "Delete", buttons(mine)["Delete"])
    press = await discord_api.press(theirs, buttons(mine)["Delete"], user=me)
    assert "does not belong to this message" in await refused(press)
    assert not theirs.deleted
    assert not mine.deleted


async def test_two_cancel_presses_at_once_both_hear_it_was_cancelled(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 3  # the first request holds the only slot while the second waits
    await start_bot(segmind_max_concurrency=1)
    owner = discord_api.make_user(81, "owner")
    blocker = await pose(discord_api, user=discord_api.make_user(82, "first"))
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    queued = await pose(discord_api, user=owner)
    await queued.wait_for(lambda i: "Queued: position 1" in card_text(i))
    card = queued.original
    assert card is not None
    [cancel] = [c for c in buttons(card).values() if c.startswith("pose:cancel:")]

    presses = await asyncio.gather(
        discord_api.press(card, cancel, user=owner), discord_api.press(card, cancel, user=owner)
    )
    for press in presses:
        await press.wait_for(lambda i: bool(i.callbacks))
    answers = sorted(private_text(press) or card_text(press) for press in presses)
    assert answers[0].startswith("It was already cancelled"), answers
    assert answers[1].startswith("🚫 Cancelled"), answers
    await delivered(blocker, timeout=20)
    assert len(segmind.submits) == 1


async def test_caps_take_no_negative_number(start_bot: StartBot, discord_api: FakeDiscord) -> None:
    await start_bot()
    [registered] = [c for c in discord_api.synced_commands if c["name"] == "admin"]
    [caps] = [o for o in registered["options"] if o["name"] == "caps"]
    assert {o["name"]: o.get("min_value") for o in caps["options"]} == {"server": 0, "user": 0}
    with pytest.raises(ValueError, match="Discord does not send -1"):
        await admin(discord_api, "caps", server=-1)
    assert "Server cap: none" in await admin(discord_api, "caps", server=0)


async def test_a_blank_word_is_not_blocked(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    assert "cannot be blank" in await admin(discord_api, "block", word="   ")
    assert "Blocked words: none" in await admin(discord_api, "settings")
    await delivered(await pose(discord_api, prompt="a knight, kneeling"))


async def test_pose_is_offered_in_servers_only(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot(discord_guild_id=None)
    for name, kind in (("pose", 1), ("Pose this character", 3)):
        [command] = [
            c for c in discord_api.synced_commands if c["name"] == name and c["type"] == kind
        ]
        assert command["contexts"] == [0], name  # servers: not DMs, not group chats
        assert command["integration_types"] == [0], name  # installed to servers, not users


async def test_pose_from_a_direct_message_is_refused_and_costs_nothing(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(discord_guild_id=None, user_cooldown_seconds=60)
    user = discord_api.make_user(91, "dm")
    attachment = discord_api.add_attachment("hero.png", png())
    in_dm = await discord_api.invoke(
        "pose",
        [
            {"name": "character", "type": 11, "value": attachment["id"]},
            {"name": "prompt", "type": 3, "value": "waving"},
        ],
        user=user,
        attachments=[attachment],
        guild=False,
    )
    assert "not in direct messages" in await refused(in_dm)
    assert in_dm.callbacks[0][1]["flags"] & 64, "privately"
    assert segmind.submits == []
    assert discord_api.cdn_requests == [], "not even downloaded"
    await accepted(await pose(discord_api, user=user))  # no cooldown was taken


async def test_an_interaction_another_process_answered_gets_nothing_more(
    start_bot: StartBot, discord_api: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first: PoseBot = await start_bot()
    user = discord_api.make_user(95, "lister")
    await save_character(first, 95, "Aria")
    result = await delivered(await pose(discord_api, user=user))
    # A second process, as during a deploy: each receives every interaction.
    await start_bot()
    await discord_api.wait_for(lambda: discord_api.sessions_started == 2)
    caplog.clear()

    listing = await discord_api.invoke("character", subcommand="list", user=user)
    await discord_api.press(result, buttons(result)["Delete"], user=user)
    await discord_api.wait_for(lambda: result.deleted)
    await listing.wait_for(lambda i: bool(i.followups))

    def answered_elsewhere() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "answered by another process" in r.getMessage()]

    await discord_api.wait_for(lambda: len(answered_elsewhere()) == 2)
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in answered_elsewhere())
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    [shown] = listing.messages()
    assert [embed["title"] for embed in shown.embeds] == ["Aria"], "the list, and nothing else"
