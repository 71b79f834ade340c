"""/history end to end: only the requester's results, newest first, ten to a page, filtered by
saved character, with thumbnails while the images are kept, and Reroll / New pose from there."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.posebot import PoseBot
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import decode, delivered, pose, private_text, save_character

JSON = dict[str, Any]


async def history(
    discord_api: FakeDiscord, user: JSON, character: str | None = None
) -> FakeInteraction:
    options = [] if character is None else [{"name": "character", "type": 3, "value": character}]
    asked = await discord_api.invoke("history", options, user=user)
    await asked.wait_for(lambda i: i.original is not None)
    assert asked.deferred_ephemeral, "answered at once, privately"
    return asked


def page_of(asked: FakeInteraction) -> FakeMessage:
    message = asked.original
    assert message is not None and message.ephemeral
    return message


def labels(message: FakeMessage) -> list[tuple[str, str]]:
    return [
        (c.get("emoji", {}).get("name", ""), c.get("label", ""))
        for row in message.components
        for c in row.get("components", [])
    ]


def custom_ids(message: FakeMessage) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row.get("components", [])]


async def recorded(bot: PoseBot, user_id: int, count: int) -> None:
    """Wait until the store counts `count` results of the user: a result is recorded as
    delivered just after it is posted."""
    for _ in range(250):
        if await bot.history.count(user_id) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{await bot.history.count(user_id)} results, not {count}")


async def pose_saved(discord_api: FakeDiscord, user: JSON, name: str, prompt: str) -> None:
    await delivered(
        await discord_api.invoke(
            "pose",
            [
                {"name": "prompt", "type": 3, "value": prompt},
                {"name": "saved", "type": 3, "value": name},
            ],
            user=user,
        )
    )


async def test_history_lists_only_the_requesters_results_and_pages(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot: PoseBot = await start_bot(
        database_url=database_url,
        user_cooldown_seconds=0,
        segmind_rpm=600,
        user_daily_limit=50,
    )
    alice = discord_api.make_user(8001, "alice")
    bob = discord_api.make_user(8002, "bob")
    await save_character(bot, 8001, "Aria")
    for n in range(12):
        if n % 4 == 0:
            await pose_saved(discord_api, alice, "Aria", f"aria pose {n}")
        else:
            await delivered(await pose(discord_api, user=alice, prompt=f"pose {n}"))
    await delivered(await pose(discord_api, user=bob, prompt="bob's own"))
    await recorded(bot, 8001, 12)
    await recorded(bot, 8002, 1)

    first = page_of(await history(discord_api, alice))
    assert (first.content or "").startswith("**Your recent results** (12; page 1 of 2).")
    prompts = [embed["description"] for embed in first.embeds]
    assert prompts[:3] == ["pose 11", "pose 10", "pose 9"], "newest first"
    assert len(prompts) == 10 and "bob's own" not in prompts
    assert [embed["title"] for embed in first.embeds] == [f"{n}." for n in range(1, 11)]
    # Each with its seed, a thumbnail of the result and a link to the result's message.
    jobs = await bot.history.page(8001, limit=10, offset=0)
    for embed, job in zip(first.embeds, jobs, strict=True):
        fields = {field["name"]: field["value"] for field in embed["fields"]}
        assert fields["Seed"] == f"`{job.options.seed}`"
        link = f"https://discord.com/channels/{FakeDiscord.GUILD_ID}/"
        assert f"({link}{job.channel_id}/{job.result_message_id})" in fields["Result"]
    assert len(first.files) == 10
    filename, data, _ = first.files[0]
    assert first.embeds[0]["thumbnail"]["url"] == f"attachment://{filename}"
    assert max(decode(data).size) <= 256, "a thumbnail"
    assert labels(first)[:4] == [("🎲", "1"), ("✏️", "1"), ("🎲", "2"), ("✏️", "2")]
    assert labels(first)[-2:] == [("", "Previous"), ("", "Next")]

    await discord_api.press(first, custom_ids(first)[-1])  # Next
    await discord_api.wait_for(lambda: "page 2 of 2" in (first.content or ""))
    assert [embed["description"] for embed in first.embeds] == ["pose 1", "aria pose 0"]
    assert [embed["title"] for embed in first.embeds] == ["11.", "12."]

    only_bob = page_of(await history(discord_api, bob))
    assert [embed["description"] for embed in only_bob.embeds] == ["bob's own"]
    assert "Next" not in [label for _, label in labels(only_bob)], "one page: no turning"

    made_from = page_of(await history(discord_api, alice, "aria"))
    assert (made_from.content or "").startswith("**Your recent results made from Aria** (3;")
    assert [embed["description"] for embed in made_from.embeds] == [
        "aria pose 8",
        "aria pose 4",
        "aria pose 0",
    ]


async def test_reroll_and_new_pose_from_history_and_what_is_gone(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot: PoseBot = await start_bot(
        database_url=database_url, user_cooldown_seconds=0, segmind_rpm=600
    )
    alice = discord_api.make_user(8101, "alice")
    nobody = page_of(await history(discord_api, alice))
    assert (nobody.content or "") == "You have no results yet: make one with `/pose`."
    older = await delivered(await pose(discord_api, user=alice, prompt="older", seed=5))
    await delivered(await pose(discord_api, user=alice, prompt="newer", seed=6))
    await recorded(bot, 8101, 2)
    [newer_job, older_job] = await bot.history.page(8101, limit=10, offset=0)
    # The bot let go of the older result's image (bot/storage/retention.py): no thumbnail.
    await bot.store.database.execute(
        "DELETE FROM job_images WHERE job_id = $1 AND role = $2", older_job.id, "result"
    )
    page = page_of(await history(discord_api, alice))
    assert "thumbnail" in page.embeds[0] and "thumbnail" not in page.embeds[1]
    assert len(page.files) == 1

    reroll = await discord_api.press(page, f"pose:reroll:{newer_job.id}:h")
    rerolled = await delivered(reroll)
    body = segmind.submits[-1].body
    assert body["prompt"] == "newer" and body["seed"] != 6
    fields = {f["name"]: f["value"] for f in rerolled.embeds[0]["fields"]}
    assert "From" in fields, "linked to the result it came from"

    new_pose = await discord_api.press(page, f"pose:newpose:{newer_job.id}:h")
    await new_pose.wait_for(lambda i: i.modal is not None)
    await delivered(await discord_api.submit_modal(new_pose, {"prompt": "newer, jumping"}))
    body = segmind.submits[-1].body
    assert (body["prompt"], body["seed"]) == ("newer, jumping", 6)
    await recorded(bot, 8101, 4)

    # A result deleted with its 🗑️ Delete button is no longer listed.
    delete = next(
        c["custom_id"]
        for row in older.components
        for c in row["components"]
        if c.get("label") == "Delete"
    )
    await discord_api.press(older, delete)
    await discord_api.wait_for(lambda: older.deleted)
    await recorded(bot, 8101, 3)
    listed = page_of(await history(discord_api, alice))
    assert "older" not in [embed["description"] for embed in listed.embeds]
    assert (listed.content or "").startswith("**Your recent results** (3;")


async def test_history_buttons_act_for_their_requester_alone(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot: PoseBot = await start_bot(user_cooldown_seconds=0)
    alice = discord_api.make_user(8201, "alice")
    bob = discord_api.make_user(8202, "bob")
    result = await delivered(await pose(discord_api, user=alice))
    [job] = await bot.history.page(8201, limit=10, offset=0)
    bobs = page_of(await history(discord_api, bob))  # "no results yet", no buttons
    # A modified client could send alice's history custom_id from a message of its own.
    bobs.components = [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 1, "label": "1", "custom_id": f"pose:reroll:{job.id}:h"}
            ],
        }
    ]
    forged = await discord_api.press(bobs, f"pose:reroll:{job.id}:h", user=bob)
    await forged.wait_for(lambda i: private_text(i) is not None)
    assert private_text(forged) == "This button belongs to someone else's history."
    assert len(segmind.submits) == 1
    assert result is not None
