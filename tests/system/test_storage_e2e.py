"""Storage that stays small and private, end to end on SQLite and PostgreSQL with a clock the
tests move: each image stored once, let go of after its window, within a budget, and all of a
user's images gone on /forget-me. The clock only moves while no job runs (leases use it too).
`database_url` comes first in each test, so that the bot is shut down before it goes."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from bot.domain.retention import IMAGE_SHARE
from bot.posebot import PoseBot
from bot.storage import job_store as states
from tests.cogs.characters.test_characters_e2e import answer, person, saved
from tests.cogs.pose.test_results_e2e import buttons, pose_saved, save_character
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import answer_text, decode, delivered, png, pose, private_text, refused

DAY = 24 * 60 * 60


class Clock:
    """The bot's clock: real time, moved on by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def value(bot: PoseBot, sql: str, *args: Any) -> Any:
    [row] = await bot.store.database.fetch(sql, *args)
    return next(iter(row.values()))


async def stored_hashes(bot: PoseBot) -> set[str]:
    return {r["sha256"] for r in await bot.store.database.fetch("SELECT sha256 FROM images")}


async def input_bytes(bot: PoseBot) -> int:
    """The bytes of every stored image that is not a generated result."""
    return int(
        await value(
            bot,
            "SELECT COALESCE(SUM(bytes), 0) FROM images WHERE sha256 NOT IN"
            " (SELECT sha256 FROM job_images WHERE role = 'result')",
        )
    )


async def job_of(bot: PoseBot, interaction: FakeInteraction) -> int:
    return int(await value(bot, "SELECT id FROM jobs WHERE interaction_id = $1", interaction.id))


async def press_and_submit(
    discord_api: FakeDiscord, message: FakeMessage, label: str, values: dict[str, str], **kw: Any
) -> FakeInteraction:
    press = await discord_api.press(message, buttons(message)[label], **kw)
    await press.wait_for(lambda i: i.modal is not None)
    return await discord_api.submit_modal(press, values, **kw)


async def test_rerolls_and_saved_poses_store_no_character_again(
    database_url: str, start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot = await start_bot(
        database_url=database_url, user_cooldown_seconds=0, user_daily_limit=50, segmind_rpm=100
    )
    first = await delivered(await pose(discord_api))
    await save_character(bot, FakeDiscord.DEFAULT_USER_ID, "Aria")
    before = await input_bytes(bot)

    for _ in range(5):
        await delivered(await discord_api.press(first, buttons(first)["Reroll"]))
    for n in range(5):
        await delivered(await pose_saved(discord_api, "Aria", prompt=f"pose {n}"))

    assert len(segmind.submits) == 11
    assert await input_bytes(bot) == before, "no character bytes stored again"
    characters = await value(
        bot, "SELECT COUNT(DISTINCT sha256) FROM job_images WHERE role = 'character'"
    )
    assert characters == 2, "the first upload and the saved character, once each"


async def test_after_the_window_the_images_are_gone_and_the_buttons_say_so(
    database_url: str, start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    clock = Clock()
    bot = await start_bot(clock=clock, database_url=database_url, user_cooldown_seconds=0)
    requested = await pose(discord_api)
    result = await delivered(requested)
    await stored_jobs(bot.store, states.DELIVERED)
    [(_, posted, _)] = result.files

    clock.offset = 7 * DAY - 60
    report = await bot.storage_keeper.sweep()
    assert report is not None
    assert report.expired_jobs == 0, "kept for the whole window"
    clock.offset = 7 * DAY + 60
    report = await bot.storage_keeper.sweep()
    assert report is not None
    assert report.expired_jobs == 1
    assert await stored_hashes(bot) == set()
    assert await bot.store.job(await job_of(bot, requested)) is not None, "the row stays"

    # New pose says so once its form is sent: the form opens before anything is read.
    rerolled = await discord_api.press(result, buttons(result)["Reroll"])
    new_pose = await press_and_submit(discord_api, result, "New pose", {"prompt": "jumping"})
    for asked in (rerolled, new_pose):
        text = await refused(asked)
        assert "kept: the bot keeps them 7 days after their last use" in text
        assert "Save character" in text
        assert "/pose" in text
    assert len(segmind.submits) == 1

    # What Discord holds is saved instead: the result message's own attachment.
    downloads = len(discord_api.cdn_requests)
    saving = await press_and_submit(discord_api, result, "Save character", {"name": "Keeper"})
    await saving.wait_for(lambda i: private_text(i) is not None)
    assert "Saved “Keeper”" in (private_text(saving) or "")
    assert len(discord_api.cdn_requests) == downloads + 1, "downloaded from the message"
    requester = int(requested.user["id"])
    character = await bot.characters.find(requester, FakeDiscord.GUILD_ID, "keeper")
    assert character is not None
    assert decode(character.data).size == decode(posted).size == (1024, 1024)


async def test_usage_and_caps_are_the_same_before_and_after_a_sweep(
    database_url: str, start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    clock = Clock()
    bot = await start_bot(
        clock=clock,
        database_url=database_url,
        user_cooldown_seconds=0,
        user_daily_limit=2,
        image_retention_days=1 / 24,  # an hour
        history_retention_days=1,
    )
    user = person(discord_api, 801, "user")
    owner = person(discord_api, FakeDiscord.OWNER_ID, "owner")
    for _ in range(2):
        await delivered(await pose(discord_api, user=user))
    await stored_jobs(bot.store, states.DELIVERED, count=2)

    async def figures() -> tuple[str, str, str]:
        mine = await answer_text(await discord_api.invoke("usage", user=user))
        everyone = await answer_text(await discord_api.invoke("usage", user=owner))
        over = await refused(await pose(discord_api, user=user))
        return mine, everyone, over

    clock.offset = 2 * 60 * 60
    before = await figures()
    assert "you made 2 generations ($1.16); 0 of your 2 are left" in before[0]
    assert "Everyone: 2 generations, $1.16." in before[1]
    assert "used your 2 generations for today" in before[2]
    report = await bot.storage_keeper.sweep()
    assert report is not None
    assert (report.expired_jobs, report.deleted_rows) == (2, 0)
    assert await stored_hashes(bot) == set()
    assert await figures() == before

    # A day on, the rows leave the window, and then the history: nothing changes either.
    clock.offset = DAY + 3 * 60 * 60
    mine = await answer_text(await discord_api.invoke("usage", user=user))
    assert "you made 0 generations ($0.00)" in mine
    report = await bot.storage_keeper.sweep()
    assert report is not None
    assert report.deleted_rows == 2
    # The 24 hours' figures stay; the 30-day chart's history went with the rows.
    after = await answer_text(await discord_api.invoke("usage", user=user))
    assert after.splitlines()[0] == mine.splitlines()[0]


async def test_the_budget_lets_go_of_the_oldest_first_and_warns_the_owner_once_a_day(
    database_url: str, start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    clock = Clock()
    bot = await start_bot(clock=clock, database_url=database_url, user_cooldown_seconds=0)
    jobs = []
    for n in range(4):
        requested = await pose(
            discord_api, user=person(discord_api, 810 + n, f"u{n}"), character=png(colour=(n, 0, 0))
        )
        await delivered(requested)
        jobs.append(await job_of(bot, requested))
    await stored_jobs(bot.store, states.DELIVERED, count=4)

    async def bytes_of(job_id: int) -> int:
        return int(
            await value(
                bot,
                "SELECT COALESCE(SUM(bytes), 0) FROM images WHERE sha256 IN"
                " (SELECT sha256 FROM job_images WHERE job_id = $1)",
                job_id,
            )
        )

    newest_two = await bytes_of(jobs[2]) + await bytes_of(jobs[3])
    budget = math.ceil(newest_two / IMAGE_SHARE) + 1
    bot.storage_keeper.retention = dataclasses.replace(
        bot.storage_keeper.retention, budget_bytes=budget
    )
    report = await bot.storage_keeper.sweep()
    assert report is not None
    assert report.evicted_jobs == 2
    assert [bool(await bot.store.image_roles(job_id)) for job_id in jobs] == [
        False,
        False,
        True,
        True,
    ]
    # The database holds more than 80 % of so small a budget: the owner is told, once.
    await discord_api.wait_for(lambda: len(discord_api.dm_messages(FakeDiscord.OWNER_ID)) == 1)
    [warning] = discord_api.dm_messages(FakeDiscord.OWNER_ID)
    assert "storage budget" in (warning.content or "")
    assert "Requests are still accepted" in (warning.content or "")
    await bot.storage_keeper.sweep()
    clock.offset = DAY - 60
    await bot.storage_keeper.sweep()
    assert len(discord_api.dm_messages(FakeDiscord.OWNER_ID)) == 1
    clock.offset = DAY + 60
    await bot.storage_keeper.sweep()
    await discord_api.wait_for(lambda: len(discord_api.dm_messages(FakeDiscord.OWNER_ID)) == 2)

    # Over the budget, requests are accepted all the same.
    await delivered(await pose(discord_api, user=person(discord_api, 820, "late")))


async def test_forget_me_leaves_none_of_the_users_images_and_keeps_what_others_use(
    database_url: str, start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=0)
    alice = person(discord_api, 830, "alice")
    bob = person(discord_api, 831, "bob")
    posed = await pose(discord_api, user=alice, character=png((320, 240), (1, 2, 3)))
    first = await delivered(posed)
    await saved(discord_api, "Hero", user=alice, image=png((200, 200), (9, 9, 9)))
    reroll = await discord_api.press(first, buttons(first)["Reroll"], user=bob)
    rerolled = await delivered(reroll)
    borrowed = await press_and_submit(
        discord_api, first, "Save character", {"name": "Borrowed"}, user=bob
    )
    await borrowed.wait_for(lambda i: private_text(i) is not None)
    await stored_jobs(bot.store, states.DELIVERED, count=2)
    alices_job, bobs_job = await job_of(bot, posed), await job_of(bot, reroll)
    alices_images = {
        row["sha256"]
        for row in await bot.store.database.fetch(
            "SELECT sha256 FROM job_images WHERE job_id = $1 UNION"
            " SELECT image_sha256 FROM characters WHERE owner_id = $2",
            alices_job,
            830,
        )
    }
    assert len(alices_images) == 3, "her upload, her result, her saved character"
    [alices_result] = await bot.store.database.fetch(
        "SELECT sha256 FROM job_images WHERE job_id = $1 AND role = 'result'", alices_job
    )

    question = await answer(await discord_api.invoke("forget-me", user=alice))
    assert "removes your images from requests other people made from yours" in (
        question.content or ""
    )
    await discord_api.press(question, buttons(question)["Confirm"])
    await discord_api.wait_for(lambda: (question.content or "").startswith("Deleted"))
    assert question.content == (
        "Deleted 1 character and 1 request with their images. Your images were also removed "
        "from 1 request other people made from yours. Removed 1 of the bot's messages with"
        " your results."
    )

    left = await stored_hashes(bot)
    assert left & alices_images == {alices_result["sha256"]}, (
        "only the result Bob saved as his character stays"
    )
    assert await bot.store.image_roles(bobs_job) == {"result"}
    kept = await bot.characters.find(831, FakeDiscord.GUILD_ID, "Borrowed")
    assert kept is not None
    assert decode(kept.data).size == (1024, 1024)
    text = await refused(await discord_api.press(rerolled, buttons(rerolled)["Reroll"], user=bob))
    assert "no longer kept" in text


async def test_the_owner_sees_what_storage_holds(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot(storage_budget_mb=700)
    await delivered(await pose(discord_api))
    await save_character(bot, 42, "Aria")
    stranger = await discord_api.invoke("admin", subcommand="storage")
    assert "Only the bot's owner" in await refused(stranger)

    owner = person(discord_api, FakeDiscord.OWNER_ID, "owner")
    text = await refused(await discord_api.invoke("admin", subcommand="storage", user=owner))
    assert "MB of the 700.0 MB budget" in text
    assert "Images: 3, each stored once" in text
    for kind in ("characters posed", "pose references: 0.0 MB", "results", "saved characters"):
        assert kind in text
    assert "7 days after its last use" in text
