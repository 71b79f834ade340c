"""The lines an operator searches (`at=job_end`, `at=start`, `at=takeover`): one per ended job
whatever its end, every field there, and nothing of who asked or what for."""

from __future__ import annotations

import logging
import shlex
import signal
from pathlib import Path

import pytest

from bot import logfmt
from tests.bot_process import BotProcess
from tests.cogs.pose.test_queue_e2e import cancel_id
from tests.conftest import BOT_TOKEN, StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import API_KEY, FakeSegmind, Fault
from tests.user_actions import card_text, delivered, outcome, pose

JOB_END_KEYS = [
    *("at", "job", "outcome", "billed", "cost"),
    *("wait_s", "gen_s", "deliver_s", "attempts", "role", "instance"),
]


def events(caplog: pytest.LogCaptureFixture, at: str) -> list[dict[str, str]]:
    """The logged lines `at=<at>`, parsed as logfmt (shell-like quoting, as the bot writes)."""
    parsed = []
    for record in caplog.records:
        text = record.getMessage()
        if text.startswith(f"at={at} "):
            parsed.append(dict(pair.split("=", 1) for pair in shlex.split(text)))
    return parsed


async def test_every_ended_job_logs_one_searchable_line_without_who_or_what(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    caplog: pytest.LogCaptureFixture,
    database_url: str,
) -> None:
    caplog.set_level(logging.INFO)
    bot = await start_bot(
        database_url=database_url, segmind_max_concurrency=1, user_cooldown_seconds=0
    )
    users = [discord_api.make_user(4_712_345_678_900 + n, f"logged-person-{n}") for n in range(3)]
    prompts = ["a knight delivered", "a knight cancelled", "a knight failed"]

    # The first runs long enough for the second to wait behind it and be cancelled.
    segmind.faults.append(Fault(kind="slow", delay=2))
    done = await pose(discord_api, user=users[0], prompt=prompts[0])
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    waiting = await pose(discord_api, user=users[1], prompt=prompts[1])
    await waiting.wait_for(lambda i: "Queued" in card_text(i))
    assert waiting.original is not None
    await discord_api.press(waiting.original, cancel_id(waiting), user=users[1])
    await waiting.wait_for(lambda i: card_text(i).startswith("🚫 Cancelled"))
    await delivered(done, timeout=30)
    # An answer holding no image: the call may have been charged.
    segmind.faults.append(Fault(kind="non_image"))
    failed = await pose(discord_api, user=users[2], prompt=prompts[2])
    await outcome(failed, timeout=30)
    await discord_api.wait_for(lambda: len(events(caplog, "job_end")) == 3, timeout=10)

    ends = {line["outcome"]: line for line in events(caplog, "job_end")}
    assert set(ends) == {"delivered", "cancelled", "failed"}
    for line in ends.values():
        assert list(line) == JOB_END_KEYS, line
        assert line["role"] == "all" and line["instance"] == bot.runner.owner
        assert float(line["wait_s"]) >= 0
    assert ends["delivered"]["billed"] == "true"
    assert float(ends["delivered"]["cost"]) > 0
    assert float(ends["delivered"]["gen_s"]) >= 2, "the slow generation's seconds"
    assert float(ends["delivered"]["deliver_s"]) >= 0
    assert ends["delivered"]["attempts"] == "1"
    assert ends["cancelled"]["billed"] == "false" and float(ends["cancelled"]["cost"]) == 0
    assert ends["cancelled"]["gen_s"] == "" and ends["cancelled"]["deliver_s"] == ""
    assert ends["failed"]["billed"] == "maybe"
    assert float(ends["failed"]["cost"]) > 0, "what may have been charged"
    assert ends["failed"]["deliver_s"] == ""

    [start] = events(caplog, "start")
    assert start["role"] == "all" and start["instance"] == bot.runner.owner
    assert start["version"] not in ("", "unknown")

    searchable = "\n".join(r.getMessage() for r in caplog.records if r.name == logfmt.log.name)
    secrets = [BOT_TOKEN, API_KEY, done.token, waiting.token, failed.token]
    for private in [*prompts, *secrets, *(u["id"] for u in users), *(u["username"] for u in users)]:
        assert private not in searchable


def test_a_value_with_spaces_or_quotes_stays_one_value() -> None:
    text = logfmt.line("pause", reason='Segmind said "no" twice', by="owner", empty=None)
    assert text == 'at=pause reason="Segmind said \\"no\\" twice" by=owner empty='
    assert dict(pair.split("=", 1) for pair in shlex.split(text)) == {
        "at": "pause",
        "reason": 'Segmind said "no" twice',
        "by": "owner",
        "empty": "",
    }
    assert "\n" not in logfmt.line("pause", reason="two\nlines")


async def test_a_pause_logs_one_line_with_its_reason(
    start_bot: StartBot,
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    segmind.faults.append(Fault.insufficient_credits())
    await start_bot()
    await pose(discord_api)
    await discord_api.wait_for(lambda: bool(events(caplog, "pause")), timeout=20)
    [pause] = events(caplog, "pause")
    assert pause["reason"] == "the bot's Segmind credits have run out"
    assert pause["by"] == "segmind"
    assert not events(caplog, "job_end"), "a paused job waits in its place: it has not ended"


async def test_the_lines_are_written_even_at_a_quiet_log_level(
    discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "SEGMIND_BASE_URL": segmind.base_url}
    bot = await BotProcess.start(discord_api, tmp_path, {**env, "LOG_LEVEL": "WARNING"}, "quiet")
    try:
        await discord_api.wait_identified(timeout=30)
        interaction = await pose(discord_api, prompt="a quiet knight")
        await delivered(interaction, timeout=30)
        assert await bot.stop(signal.SIGTERM) == 0, bot.log
    finally:
        await bot.kill_if_running()
    lines = bot.log.splitlines()
    assert not [line for line in lines if " INFO " in line and "at=" not in line], "quiet"
    [start] = [line for line in lines if "at=start " in line]
    assert "role=all" in start
    [end] = [line for line in lines if "at=job_end " in line]
    assert "outcome=delivered billed=true" in end
    assert "a quiet knight" not in bot.log and interaction.token not in bot.log
