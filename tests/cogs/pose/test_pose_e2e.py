"""/pose end to end: the real bot, driven by the real discord.py, through both fakes on loopback."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time

import pytest

from bot.domain.server_rules import SAFE_NEGATIVE_PROMPT
from bot.posebot import PoseBot
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import API_KEY, FakeSegmind, Fault
from tests.user_actions import (
    card_text,
    decode,
    delivered,
    png,
    pose,
    private_text,
    refused,
    result_of,
)


def timestamp_in(text: str) -> int:
    match = re.search(r"<t:(\d+):R>", text)
    assert match, text
    return int(match.group(1))


async def test_happy_path_sync(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    interaction = await pose(discord_api, character=png((2048, 1536)), size="portrait")
    result = await delivered(interaction)

    kind, data, _ = interaction.callbacks[0]
    assert kind == 5, "deferred first, with 'thinking'"
    assert not data.get("flags", 0) & 64, "the card is public"
    [submit] = segmind.submits
    assert submit.headers["x-api-key"] == API_KEY
    body = submit.body
    assert body["prompt"] == "the hero, sitting on a rock, waving"
    assert (body["steps"], body["guidance_scale"]) == (10, 3.0)
    assert (body["width"], body["height"]) == (832, 1216)
    assert isinstance(body["seed"], int)
    assert "input_image" not in body
    sent_character = decode(base64.b64decode(body["ip_image"]))
    assert sent_character.size == (1024, 768), "downscaled to 1024 on the long side"

    assert not result.ephemeral
    labels = [c.get("label") for row in result.components for c in row.get("components", [])]
    assert labels == ["Reroll", "New pose", "Save character", "Add to story", "Delete"], (
        "no Cancel any more"
    )
    filename, data_bytes, _ = result.files[0]
    assert decode(data_bytes).size == (832, 1216)
    [embed] = result.embeds
    assert embed["description"] == "the hero, sitting on a rock, waving"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Seed"] == f"`{body['seed']}`"
    assert fields["Steps"] == "10"
    assert fields["Guidance"] == "3"
    assert "832×1216" in fields["Size"]
    assert fields["Requested by"] == f"<@{interaction.user['id']}>"
    assert re.fullmatch(r"\d+ s", fields["Time"])
    assert embed["image"]["url"] == f"attachment://{filename}"
    assert private_text(interaction) is None, "nothing went wrong, so nothing private was said"


async def test_happy_path_async_with_pose_reference_and_every_option(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(segmind_mode="async")
    interaction = await pose(
        discord_api,
        pose_image=png((500, 500), (0, 0, 0)),
        negative_prompt="blurry, extra fingers",
        steps=25,
        guidance=7.5,
        seed=123456789012,
    )
    result = await delivered(interaction)
    [submit] = segmind.submits
    assert submit.mode == "async"
    body = submit.body
    assert (body["steps"], body["guidance_scale"], body["seed"]) == (25, 7.5, 123456789012)
    # The user's words, then what every request avoids unless a server allows more.
    assert body["negative_prompt"] == f"blurry, extra fingers, {SAFE_NEGATIVE_PROMPT}"
    assert decode(base64.b64decode(body["input_image"])).size == (500, 500)
    assert segmind.output_fetches_with_key == 0
    fields = {field["name"]: field["value"] for field in result.embeds[0]["fields"]}
    assert fields["Seed"] == "`123456789012`"
    assert fields["Avoid"] == body["negative_prompt"]


async def test_url_mode_lets_the_api_fetch_the_attachment(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(segmind_image_input="url")
    character = png((123, 77))
    await delivered(await pose(discord_api, character=character))
    assert segmind.submits[0].body["ip_image"].startswith(discord_api.base_url)
    assert segmind.ip_images() == [character], "the API fetched the user's own attachment"


async def test_cooldown_refuses_privately_without_calling_the_api(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=60)
    await delivered(await pose(discord_api))
    second = await pose(discord_api)
    text = await refused(second)
    assert second.callbacks[0][0] == 4, "answered at once, without a deferral"
    assert 50 <= timestamp_in(text) - time.time() <= 61
    assert len(segmind.submits) == 1
    other_user = discord_api.make_user(424242, "someone-else")
    await delivered(await pose(discord_api, user=other_user)), "cooldowns are per user"


async def test_an_image_discord_no_longer_serves_is_refused_privately_and_costs_nothing(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=60)
    discord_api.expired_files.add("gone.png")  # its signed link ran out before the download
    text = await refused(await pose(discord_api, filename="gone.png"))
    assert text == (
        "The character image could not be downloaded from Discord; please attach it again."
    )
    assert segmind.submits == []
    # Nothing was spent, so the cooldown was given back: the next attempt goes through.
    await delivered(await pose(discord_api))
    assert len(segmind.submits) == 1


async def test_a_users_second_request_waits_its_turn_and_shows_its_place(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 1.0
    await start_bot(user_cooldown_seconds=0)
    first = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    second = await pose(discord_api)
    await second.wait_for(lambda i: "Queued: position 1" in card_text(i))
    assert any(
        c.get("custom_id", "").startswith("pose:cancel:")
        for row in second.original.components
        for c in row.get("components", [])
    ), "a queued card has a Cancel button"
    await delivered(first)
    await delivered(second)
    one, two = segmind.submits
    assert two.started_at >= one.finished_at, "one generation at a time per user"


async def test_too_many_queued_requests_are_refused_with_the_first_ones_place(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 1.5
    await start_bot(user_cooldown_seconds=0, user_max_queued=1)
    first = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    second = await pose(discord_api)
    await second.wait_for(lambda i: "Queued" in card_text(i))
    third = await pose(discord_api)
    text = await refused(third)
    assert "already have 1 requests waiting (the first is at position 1)" in text
    await delivered(first)
    await delivered(second)
    assert len(segmind.submits) == 2


async def test_upstream_429_is_waited_out_and_delivered(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault.rate_limited(retry_after=1))
    await start_bot()
    interaction = await pose(discord_api)
    await interaction.wait_for(lambda i: "busy; retrying <t:" in card_text(i))
    await delivered(interaction)
    assert [s.status for s in segmind.submits] == [429, 200]
    assert segmind.submits[1].started_at - segmind.submits[0].finished_at >= 0.9


async def test_shared_gate_holds_every_user_until_the_reset(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    reset_after = 1.5
    segmind.faults.append(Fault.rate_limited(retry_after=reset_after))
    await start_bot()
    first = await pose(discord_api)
    await discord_api.wait_for(lambda: segmind.rate_limited_count == 1)
    others = [
        await pose(discord_api, user=discord_api.make_user(5000 + n, f"user{n}")) for n in range(3)
    ]
    for interaction in [first, *others]:
        await delivered(interaction)
    limited_at = segmind.submits[0].finished_at
    assert all(s.started_at - limited_at >= reset_after - 0.1 for s in segmind.submits[1:])
    assert len(segmind.submits) == 5
    assert [s.body["prompt"] for s in segmind.submits[1:]] == [
        "the hero, sitting on a rock, waving"
    ] * 4


async def test_wait_beyond_the_limit_ends_the_job_and_sets_the_cooldown_to_the_reset(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault.rate_limited(retry_after=600))
    await start_bot(segmind_max_wait_seconds=300, user_cooldown_seconds=60)
    interaction = await pose(discord_api)
    text = await refused(interaction)
    until = timestamp_in(text)
    assert 590 <= until - time.time() <= 601
    assert "nothing was charged" in text
    again = await refused(await pose(discord_api))
    assert f"<t:{until}:R>" in again, "the cooldown tells the same story"
    newcomer = await refused(await pose(discord_api, user=discord_api.make_user(31, "new")))
    assert f"<t:{until}:R>" in newcomer, "and nobody is queued behind a long 429"
    assert len(segmind.submits) == 1


@pytest.mark.parametrize(
    ("fault", "expected", "level"),
    [
        (Fault.rejected_value("steps", 71), "'steps': 71", logging.ERROR),
        (Fault.error(400, "prompt contains banned words"), "banned words", logging.WARNING),
    ],
)
async def test_api_errors_become_clear_private_messages(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    expected: str,
    level: int,
) -> None:
    caplog.set_level(logging.INFO)
    segmind.faults.append(fault)
    await start_bot()
    interaction = await pose(discord_api)
    assert expected in await refused(interaction)
    assert interaction.original is None, "the public card is removed"
    assert not discord_api.channel_messages
    logged = [r for r in caplog.records if str(fault.status) in r.getMessage()]
    assert any(r.levelno == level for r in logged)
    assert API_KEY not in caplog.text
    await delivered(await pose(discord_api)), "nothing was billed, so no cooldown"


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (b"this is not an image at all", "hero.png", "not a PNG, JPEG, WEBP or GIF"),
        (b"", "empty.png", "empty file"),
        (png()[:200], "cut.png", "damaged"),
    ],
)
async def test_bad_attachment_is_refused_and_costs_nothing(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    data: bytes,
    filename: str,
    reason: str,
) -> None:
    await start_bot()
    interaction = await pose(discord_api, character=data, filename=filename)
    text = await refused(interaction)
    assert text.startswith("The character image")
    assert reason in text
    assert interaction.original is None
    assert segmind.submits == []
    await delivered(await pose(discord_api)), "a refused request takes no cooldown"


async def test_oversized_attachment_is_refused_before_download(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    huge = b"\x89PNG\r\n\x1a\n" + bytes(11 * 1024 * 1024)
    assert "limit is 10 MiB" in await refused(await pose(discord_api, character=huge))
    assert discord_api.cdn_requests == []
    assert segmind.submits == []


async def test_blank_prompt_is_refused_at_once(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    interaction = await pose(discord_api, prompt="\x00\x07\n\t ")
    assert "prompt is empty" in await refused(interaction)
    assert interaction.callbacks[0][0] == 4, "answered directly, without a deferral"
    assert segmind.submits == []


async def test_a_prompt_of_invisible_characters_is_empty_and_costs_nothing(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot: PoseBot = await start_bot()
    invisible = "\u200b\u200d\u2060\ufeff"  # zero-width space and joiner, word joiner, BOM
    interaction = await pose(discord_api, prompt=invisible)
    assert "prompt is empty" in await refused(interaction)
    assert interaction.callbacks[0][0] == 4, "answered directly, without a deferral"

    attachment = discord_api.add_attachment("oc.png", png())
    menu = await discord_api.invoke_message_command(
        "Pose this character", discord_api.add_user_message("my OC!", [attachment])
    )
    await menu.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(menu, {"prompt": invisible})
    assert "prompt is empty" in await refused(submitted)
    assert segmind.submits == []
    assert bot.cooldowns.until(int(interaction.user["id"])) is None, "no cooldown taken"

    # Inside a prompt they are dropped too: the API gets what the user can see.
    await delivered(await pose(discord_api, prompt=f"the hero{invisible}, wav\u200bing"))
    assert segmind.submits[0].body["prompt"] == "the hero, waving"


async def test_mentions_in_a_prompt_ping_nobody(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    prompt = "@everyone look at <@&123456> and @here with <@999>"
    result = await delivered(await pose(discord_api, prompt=prompt))
    sent = [m.allowed_mentions for m in discord_api.all_messages()]
    sent += [edit.get("allowed_mentions") for m in discord_api.all_messages() for edit in m.edits]
    assert sent
    assert all(mentions == {"parse": []} for mentions in sent), sent
    assert result.embeds[0]["description"] == prompt
    assert segmind.submits[0].body["prompt"] == prompt


async def test_ten_users_at_once_are_all_served_within_the_concurrency_cap(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 0.3
    await start_bot(segmind_max_concurrency=3, segmind_rpm=600)
    users = [discord_api.make_user(7000 + n, f"fan{n}") for n in range(10)]
    interactions = await asyncio.gather(*(pose(discord_api, user=user) for user in users))
    results = await asyncio.gather(*(delivered(i, timeout=30) for i in interactions))
    assert all(i.callbacks[0][0] == 5 for i in interactions)
    assert segmind.max_in_flight == 3
    assert len(segmind.submits) == 10
    assert {r.embeds[0]["fields"][5]["value"] for r in results} == {
        f"<@{user['id']}>" for user in users
    }


async def test_result_over_the_upload_limit_is_made_to_fit(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.sync_format = "png"  # the fake's 1024×1024 PNG is about 7 kB
    await start_bot()
    result = await delivered(await pose(discord_api, attachment_size_limit=4_000))
    filename, data, _ = result.files[0]
    assert len(data) <= 4_000
    assert decode(data).format == "JPEG"
    assert filename.endswith(".jpg")


async def test_unexpected_error_gives_a_reference_found_in_the_log(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An upload limit no image fits under: a failure the bot has no specific answer for.
    await start_bot()
    text = await refused(await pose(discord_api, attachment_size_limit=10))
    reference = re.search(r"reference: `([0-9a-f]{8})`", text)
    assert reference, text
    assert "Traceback" not in text
    assert any(reference.group(1) in r.getMessage() and r.exc_info for r in caplog.records), (
        "the reference leads to the traceback in the log"
    )


async def test_result_outliving_the_token_is_posted_to_the_channel(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    offset = [0.0]
    segmind.latency = 0.5
    await start_bot(clock=lambda: time.time() + offset[0])
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    offset[0] = 15 * 60  # the generation ends after the interaction's 15 minutes
    interaction.expired = True
    await discord_api.wait_for(lambda: bool(discord_api.channel_messages), timeout=10)
    [message] = discord_api.channel_messages
    requester = int(interaction.user["id"])
    assert message.content == f"<@{requester}>, your pose is ready."
    assert message.allowed_mentions["parse"] == []
    assert [int(user) for user in message.allowed_mentions["users"]] == [requester]
    assert message.files
    assert result_of(interaction) is None


async def test_shutdown_lets_running_jobs_finish_and_still_stores_new_ones(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 0.8
    bot: PoseBot = await start_bot()
    running = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    stopping = asyncio.create_task(bot.shutdown(grace=10))
    late = await pose(discord_api, user=discord_api.make_user(8080, "late"))
    await late.wait_for(lambda i: "Queued" in card_text(i))
    await asyncio.wait_for(stopping, timeout=15)
    await delivered(running, timeout=1)
    assert bot.is_closed()
    assert len(segmind.submits) == 1, "a stopping process starts no new API call"
    await start_bot()  # the next process runs what the stopping one stored
    await delivered(late)
    assert len(segmind.submits) == 2


async def test_a_job_cut_off_by_shutdown_says_so_and_resumes_on_the_next_start(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault(kind="hang"))
    bot: PoseBot = await start_bot()
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    await asyncio.wait_for(bot.shutdown(grace=0.3), timeout=15)
    assert "restarting" in card_text(interaction)
    assert "keeps its place" in card_text(interaction)
    assert bot.is_closed()
    await start_bot()  # the same store: a restart
    await delivered(interaction)
    assert len(segmind.submits) == 2, "a sync call cut off mid-way is made again"
