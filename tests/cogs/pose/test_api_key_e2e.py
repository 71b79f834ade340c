"""The API key goes to the image service's own address only: not to a status or result URL
on another host, and not along a redirect."""

from __future__ import annotations

from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import API_KEY, MODEL, FakeSegmind, Fault
from tests.user_actions import delivered, pose, private_text


async def test_status_and_result_urls_on_another_host_are_polled_without_the_key(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    segmind.status_elsewhere = True
    await start_bot(segmind_mode="async", segmind_poll_seconds=0.05)
    interaction = await pose(discord_api, prompt="polled elsewhere")
    await delivered(interaction)
    assert segmind.keys_elsewhere, "the polls went to the other host"
    assert API_KEY not in segmind.keys_elsewhere
    assert segmind.billed == 1


async def test_a_redirect_is_not_followed_with_the_key(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    elsewhere = f"{segmind.output_base_url}/v1/{MODEL}"
    segmind.faults.append(Fault(status=307, body="", headers={"Location": elsewhere}))
    await start_bot()
    interaction = await pose(discord_api, prompt="redirected")
    await interaction.wait_for(lambda i: private_text(i) is not None)
    assert API_KEY not in segmind.keys_elsewhere
    assert segmind.keys_elsewhere == [], "the redirect is not followed at all"
    assert segmind.billed == 0
