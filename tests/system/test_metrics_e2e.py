"""The Prometheus endpoint (METRICS_PORT), scraped over loopback as Prometheus would: the
counters move with the jobs run through the real discord.py; without a port there is none."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import Settings
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import card_text, delivered, outcome, pose

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def scrape(port: int) -> Samples:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_the_endpoint_counts_jobs_spend_errors_and_reads_the_queue(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    port = free_port()
    await start_bot(database_url=database_url, metrics_port=port, user_cooldown_seconds=0)
    before = await scrape(port)
    assert value(before, "posebot_jobs_ended_total", outcome="delivered", billed="true") == 0
    assert ("posebot_queue_depth", frozenset()) in before
    assert value(before, "posebot_gateway_latency_seconds") >= 0

    await delivered(await pose(discord_api, user=discord_api.make_user(801, "a")), timeout=30)
    segmind.faults.append(Fault(kind="non_image"))  # an answer holding no image
    await outcome(await pose(discord_api, user=discord_api.make_user(802, "b")), timeout=30)

    # A job is counted as it ends, a moment after its requester sees it end.
    for _ in range(100):
        after = await scrape(port)
        if value(after, "posebot_jobs_ended_total", outcome="delivered", billed="true"):
            break
        await asyncio.sleep(0.05)
    assert value(after, "posebot_jobs_ended_total", outcome="delivered", billed="true") == 1
    assert value(after, "posebot_jobs_ended_total", outcome="failed", billed="maybe") == 1
    assert value(after, "posebot_generation_seconds_count") == 1
    assert value(after, "posebot_spend_dollars_total", billed="true") > 0
    assert value(after, "posebot_spend_dollars_total", billed="maybe") > 0
    assert value(after, "posebot_segmind_errors_total", kind="InvalidResult") == 1
    assert value(after, "posebot_queue_depth") == 0


def test_metrics_are_off_unless_a_port_is_set_and_stay_on_this_machine() -> None:
    secrets = {"DISCORD_TOKEN": "t", "SEGMIND_API_KEY": "k"}
    default = Settings.from_env(secrets)
    assert default.metrics_port is None
    configured = Settings.from_env({**secrets, "METRICS_PORT": "9108"})
    assert (configured.metrics_port, configured.metrics_host) == (9108, "127.0.0.1")


async def test_discords_failures_posting_a_result_are_counted_by_kind(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    port = free_port()
    segmind.latency = 0.5
    await start_bot(metrics_port=port)
    interaction = await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    await interaction.wait_for(lambda i: card_text(i).startswith("🎨"))  # the card is running
    # The connection dropped as the card becomes the result: the bot posts it again.
    discord_api.faults.fail_next("interaction_edit", "drop")
    await delivered(interaction, timeout=30)

    after = await scrape(port)
    errors = {
        dict(labels)["kind"]: count
        for (name, labels), count in after.items()
        if name == "posebot_discord_errors_total"
    }
    assert sum(errors.values()) == 1, errors
    assert all(kind and " " not in kind for kind in errors), "a short kind, never a message"


async def test_a_metrics_port_already_taken_leaves_the_bot_running(
    start_bot: StartBot, discord_api: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        await start_bot(metrics_port=port)
        await delivered(await pose(discord_api), timeout=30)
    [refused] = [r.getMessage() for r in caplog.records if "cannot serve metrics" in r.getMessage()]
    assert f"127.0.0.1:{port}" in refused and "METRICS_PORT" in refused
