"""/pose end to end: the real bot, driven by the real discord.py, through both fakes on loopback."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time

import pytest

from bot.posebot import PoseBot
from tests.conftest import StartBot
from tests.fake_discord import FakeDiscord
from tests.fake_segmind import API_KEY, FakeSegmind, Fault
from tests.user_actions import decode, finished, png, pose, private_reply, result_of, status_of


async def test_happy_path_sync(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    interaction = await pose(discord_api, character=png((2048, 1536)), size="portrait")

    status = await finished(interaction)
    assert interaction.callbacks[0][0] == 5, "deferred first, with 'thinking'"
    assert interaction.deferred_ephemeral
    assert status.startswith("✅ Done")

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

    result = result_of(interaction)
    assert result is not None
    filename, data, _ = result.files[0]
    assert decode(data).size == (832, 1216)
    assert result.allowed_mentions == {"parse": []}
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
    assert str(result.id) in status, "the private status links to the result"


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
    assert (await finished(interaction)).startswith("✅ Done")
    [submit] = segmind.submits
    assert submit.mode == "async"
    body = submit.body
    assert (body["steps"], body["guidance_scale"], body["seed"]) == (25, 7.5, 123456789012)
    assert body["negative_prompt"] == "blurry, extra fingers"
    assert decode(base64.b64decode(body["input_image"])).size == (500, 500)
    assert segmind.output_fetches_with_key == 0
    result = result_of(interaction)
    assert result is not None
    fields = {field["name"]: field["value"] for field in result.embeds[0]["fields"]}
    assert fields["Seed"] == "`123456789012`"
    assert fields["Avoid"] == "blurry, extra fingers"


async def test_url_mode_lets_the_api_fetch_the_attachment(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(segmind_image_input="url")
    character = png((123, 77))
    interaction = await pose(discord_api, character=character)
    assert (await finished(interaction)).startswith("✅ Done")
    assert segmind.submits[0].body["ip_image"].startswith(discord_api.base_url)
    assert segmind.ip_images() == [character], "the API fetched the user's own attachment"


async def test_cooldown_refuses_privately_without_calling_the_api(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=60)
    first = await pose(discord_api)
    assert (await finished(first)).startswith("✅ Done")
    second = await pose(discord_api)
    await second.wait_for(lambda i: bool(status_of(i)))
    text = status_of(second)
    assert private_reply(second)
    match = re.search(r"<t:(\d+):R>", text)
    assert match, text
    assert 50 <= int(match.group(1)) - time.time() <= 61
    assert len(segmind.submits) == 1
    other_user = discord_api.make_user(424242, "someone-else")
    third = await pose(discord_api, user=other_user)
    assert (await finished(third)).startswith("✅ Done"), "cooldowns are per user"


async def test_one_generation_at_a_time_per_user(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 1.0
    await start_bot(user_cooldown_seconds=0)
    first = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    second = await pose(discord_api)
    await second.wait_for(lambda i: bool(status_of(i)))
    assert "already have a generation running" in status_of(second)
    assert (await finished(first)).startswith("✅ Done")
    assert len(segmind.submits) == 1


async def test_upstream_429_is_waited_out_and_delivered(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault.rate_limited(retry_after=1))
    await start_bot()
    interaction = await pose(discord_api)
    await interaction.wait_for(lambda i: "busy; retrying <t:" in status_of(i))
    assert (await finished(interaction)).startswith("✅ Done")
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
        assert (await finished(interaction)).startswith("✅ Done")
    limited_at = segmind.submits[0].finished_at
    assert all(s.started_at - limited_at >= reset_after - 0.1 for s in segmind.submits[1:])
    assert len(segmind.submits) == 5


async def test_wait_beyond_the_limit_ends_the_job_and_sets_the_cooldown_to_the_reset(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault.rate_limited(retry_after=600))
    await start_bot(segmind_max_wait_seconds=300, user_cooldown_seconds=60)
    interaction = await pose(discord_api)
    text = await finished(interaction)
    until = int(re.search(r"<t:(\d+):R>", text).group(1))
    assert 590 <= until - time.time() <= 601
    assert "nothing was charged" in text
    again = await pose(discord_api)
    await again.wait_for(lambda i: bool(status_of(i)))
    assert f"<t:{until}:R>" in status_of(again), "the cooldown tells the same story"
    assert len(segmind.submits) == 1


@pytest.mark.parametrize(
    ("fault", "expected", "level"),
    [
        (Fault.error(406, "Insufficient credits"), "credits have run out", logging.ERROR),
        (Fault.error(401, "Invalid API key"), "misconfigured", logging.ERROR),
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
    text = await finished(interaction)
    assert expected in text
    assert private_reply(interaction)
    assert result_of(interaction) is None
    assert not discord_api.channel_messages
    logged = [r for r in caplog.records if str(fault.status) in r.getMessage()]
    assert any(r.levelno == level for r in logged)
    assert API_KEY not in caplog.text
    retry = await pose(discord_api)
    assert (await finished(retry)).startswith("✅ Done"), "nothing billed, so no cooldown"


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
    text = await finished(interaction)
    assert reason in text
    assert text.startswith("The character image")
    assert private_reply(interaction)
    assert segmind.submits == []
    retry = await pose(discord_api)
    assert (await finished(retry)).startswith("✅ Done"), "a refused request takes no cooldown"


async def test_oversized_attachment_is_refused_before_download(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    huge = b"\x89PNG\r\n\x1a\n" + bytes(11 * 1024 * 1024)
    interaction = await pose(discord_api, character=huge)
    assert "limit is 10 MiB" in await finished(interaction)
    assert discord_api.cdn_requests == []
    assert segmind.submits == []


async def test_blank_prompt_is_refused_at_once(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    interaction = await pose(discord_api, prompt="\x00\x07\n\t ")
    await interaction.wait_for(lambda i: bool(status_of(i)))
    assert "prompt is empty" in status_of(interaction)
    assert interaction.callbacks[0][0] == 4, "answered directly, without a deferral"
    assert private_reply(interaction)
    assert segmind.submits == []


async def test_mentions_in_a_prompt_ping_nobody(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot()
    prompt = "@everyone look at <@&123456> and @here with <@999>"
    interaction = await pose(discord_api, prompt=prompt)
    assert (await finished(interaction)).startswith("✅ Done")
    for message in discord_api.all_messages():
        assert message.allowed_mentions == {"parse": []}, message
    result = result_of(interaction)
    assert result is not None
    assert result.embeds[0]["description"] == prompt
    assert segmind.submits[0].body["prompt"] == prompt


async def test_ten_users_at_once_are_all_served_within_the_concurrency_cap(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 0.3
    await start_bot(segmind_max_concurrency=3)
    users = [discord_api.make_user(7000 + n, f"fan{n}") for n in range(10)]
    interactions = await asyncio.gather(*(pose(discord_api, user=user) for user in users))
    statuses = await asyncio.gather(*(finished(i, timeout=30) for i in interactions))
    assert all(status.startswith("✅ Done") for status in statuses)
    assert all(i.callbacks[0][0] == 5 for i in interactions)
    assert segmind.max_in_flight == 3
    assert len(segmind.submits) == 10
    assert {result_of(i).embeds[0]["fields"][-1]["value"] for i in interactions} == {
        f"<@{user['id']}>" for user in users
    }


async def test_result_over_the_upload_limit_is_made_to_fit(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.sync_format = "png"  # the fake's 1024×1024 PNG is about 7 kB
    await start_bot()
    interaction = await pose(discord_api, attachment_size_limit=4_000)
    assert (await finished(interaction)).startswith("✅ Done")
    result = result_of(interaction)
    assert result is not None
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
    # An upload limit no image can fit under: a failure the bot has no specific answer for.
    await start_bot()
    interaction = await pose(discord_api, attachment_size_limit=10)
    text = await finished(interaction)
    reference = re.search(r"reference: `([0-9a-f]{8})`", text)
    assert reference, text
    assert "Traceback" not in text
    assert any(reference.group(1) in r.getMessage() and r.exc_info for r in caplog.records), (
        "the reference leads to the traceback in the log"
    )


async def test_result_outliving_the_token_is_posted_to_the_channel(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 0.5
    await start_bot()
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    interaction.expired = True
    await discord_api.wait_for(lambda: bool(discord_api.channel_messages), timeout=10)
    [message] = discord_api.channel_messages
    requester = interaction.user["id"]
    assert message.content == f"<@{requester}>, your pose is ready."
    assert message.allowed_mentions["parse"] == []
    assert [int(user) for user in message.allowed_mentions["users"]] == [int(requester)]
    assert message.files
    assert result_of(interaction) is None


async def test_shutdown_lets_running_jobs_finish_and_refuses_new_ones(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.latency = 0.8
    bot: PoseBot = await start_bot()
    running = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    stopping = asyncio.create_task(bot.shutdown(grace=10))
    late = await pose(discord_api, user=discord_api.make_user(8080, "late"))
    await late.wait_for(lambda i: bool(status_of(i)))
    assert "restarting" in status_of(late)
    await asyncio.wait_for(stopping, timeout=15)
    assert status_of(running).startswith("✅ Done")
    assert bot.is_closed()
    assert len(segmind.submits) == 1


async def test_shutdown_tells_users_whose_job_could_not_finish(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.faults.append(Fault(kind="hang"))
    bot: PoseBot = await start_bot()
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    await asyncio.wait_for(bot.shutdown(grace=0.3), timeout=15)
    assert "had to restart" in status_of(interaction)
    assert private_reply(interaction)
    assert bot.is_closed()
