"""The character library and /forget-me end to end: the real bot, through the fakes on loopback."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.posebot import PoseBot
from tests.cogs.admin.test_server_admin_e2e import admin
from tests.cogs.pose.test_button_server_rules_e2e import direct_result
from tests.cogs.pose.test_results_e2e import buttons as result_buttons
from tests.conftest import StartBot, stored_jobs
from tests.fakes.discord import DEFAULT_PERMISSIONS, FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import card_text, decode, delivered, png, pose

MANAGE_GUILD = 1 << 5
MANAGER = DEFAULT_PERMISSIONS | MANAGE_GUILD
JSON = dict[str, Any]


def person(discord_api: FakeDiscord, user_id: int, name: str) -> JSON:
    return discord_api.make_user(user_id, name)


async def save(
    discord_api: FakeDiscord,
    name: str,
    *,
    user: JSON | None = None,
    image: bytes | None = None,
    filename: str = "hero.png",
    content_type: str = "image/png",
    description: str | None = None,
    shared: bool | None = None,
    permissions: int = DEFAULT_PERMISSIONS,
) -> FakeInteraction:
    """Type /character save as a user would, attaching an image."""
    attachment = discord_api.add_attachment(
        filename, png() if image is None else image, content_type
    )
    options: list[JSON] = [
        {"name": "name", "type": 3, "value": name},
        {"name": "image", "type": 11, "value": attachment["id"]},
    ]
    if description is not None:
        options.append({"name": "description", "type": 3, "value": description})
    if shared is not None:
        options.append({"name": "shared", "type": 5, "value": shared})
    return await discord_api.invoke(
        "character",
        options,
        subcommand="save",
        user=user,
        attachments=[attachment],
        permissions=permissions,
    )


async def character(
    discord_api: FakeDiscord,
    subcommand: str,
    *,
    user: JSON | None = None,
    permissions: int = DEFAULT_PERMISSIONS,
    **options: str,
) -> FakeInteraction:
    """Any other /character subcommand; every option of theirs is text."""
    sent = [{"name": key, "type": 3, "value": value} for key, value in options.items()]
    return await discord_api.invoke(
        "character", sent, subcommand=subcommand, user=user, permissions=permissions
    )


async def answer(interaction: FakeInteraction, timeout: float = 10) -> FakeMessage:
    """The message the user ends up seeing; everything here is for their eyes only."""
    await interaction.wait_for(lambda i: i.original is not None, timeout)
    message = interaction.original
    assert message is not None
    assert message.ephemeral, f"not private: {message!r}"
    mentions = message.allowed_mentions or {}
    assert mentions.get("parse") == [] and not mentions.get("users"), "never pings anyone"
    return message


async def said(interaction: FakeInteraction) -> str:
    return (await answer(interaction)).content or ""


async def saved(discord_api: FakeDiscord, name: str, **kwargs: Any) -> FakeMessage:
    message = await answer(await save(discord_api, name, **kwargs))
    assert (message.content or "").startswith("Saved"), message.content
    return message


async def choices(
    discord_api: FakeDiscord, typed: str, *, user: JSON | None = None, subcommand: str = "show"
) -> list[JSON]:
    """What Discord offers while the user types into a character's name."""
    interaction = await discord_api.autocomplete(
        "character",
        [{"name": "name", "type": 3, "value": typed}],
        focused="name",
        subcommand=subcommand,
        user=user,
    )
    await interaction.wait_for(lambda i: i.choices is not None)
    assert interaction.choices is not None
    return interaction.choices


def buttons(message: FakeMessage) -> Iterator[JSON]:
    for row in message.components:
        yield from row.get("components", [])


def button(message: FakeMessage, label: str) -> JSON:
    found = next((b for b in buttons(message) if b.get("label") == label), None)
    assert found is not None, f"no {label} button on {message!r}"
    return found


async def press(discord_api: FakeDiscord, message: FakeMessage, label: str) -> FakeInteraction:
    return await discord_api.press(message, button(message, label)["custom_id"])


async def rows(bot: PoseBot, sql: str, *args: Any) -> list[JSON]:
    return await bot.store.database.fetch(sql, *args)


async def names_stored(bot: PoseBot) -> list[str]:
    return [row["name"] for row in await rows(bot, "SELECT name FROM characters ORDER BY id")]


# -- saving and looking ------------------------------------------------------------------------


async def test_save_then_show_list_and_pick(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url)
    message = await saved(
        discord_api, "Sir  Hero", image=png((600, 800)), description="red cape, silver armour"
    )
    assert message.content == "Saved “Sir Hero”: you can pose it now."
    [embed] = message.embeds
    assert embed["title"] == "Sir Hero"
    assert embed["description"] == "red cape, silver armour"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Owner"] == "you"
    assert fields["Shared"].startswith("No")
    [(filename, data, _)] = message.files
    assert embed["thumbnail"]["url"] == f"attachment://{filename}"
    assert max(decode(data).size) <= 256, "a thumbnail, not the whole image"

    # The cleaned image itself is kept, not a link to Discord's CDN (those expire).
    [row] = await rows(
        bot,
        "SELECT i.data, i.width, i.height FROM characters c"
        " JOIN images i ON i.sha256 = c.image_sha256",
    )
    assert decode(bytes(row["data"])).size == (600, 800) == (row["width"], row["height"])

    shown = await answer(await character(discord_api, "show", name="sir hero"))
    [embed] = shown.embeds
    assert embed["title"] == "Sir Hero"
    [(filename, data, _)] = shown.files
    assert embed["image"]["url"] == f"attachment://{filename}"
    assert decode(data).size == (600, 800)

    listed = await answer(await character(discord_api, "list"))
    assert [embed["title"] for embed in listed.embeds] == ["Sir Hero"]
    assert len(listed.files) == 1
    assert listed.components == [], "one page: no buttons"

    assert await choices(discord_api, "HER") == [{"name": "Sir Hero", "value": "Sir Hero"}]


async def test_an_empty_library_says_how_to_start(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot()
    text = await said(await character(discord_api, "list"))
    assert "You have no characters yet" in text
    assert "/character save" in text
    text = await said(await character(discord_api, "show", name="Nobody"))
    assert text.startswith("You have no character called “Nobody”")


async def test_bad_input_is_refused_privately_and_stores_nothing(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot()
    text = await said(await save(discord_api, "x" * 200))
    assert text == "Character names are at most 32 characters long."
    text = await said(await save(discord_api, "🐉🐉"))
    assert "letters, digits" in text
    huge = b"\x89PNG\r\n\x1a\n" + bytes(11 * 2**20)
    text = await said(await save(discord_api, "Huge", image=huge))
    assert text == "The image is 11.0 MiB; the limit is 10 MiB."
    assert discord_api.cdn_requests == [], "refused before anything was downloaded"

    notes = await save(
        discord_api,
        "Notes",
        image=b"just some text",
        filename="notes.txt",
        content_type="text/plain",
    )
    assert await said(notes) == "The image is not a PNG, JPEG, WEBP or GIF image."
    assert notes.deferred_ephemeral, "even the 'thinking' was private"
    assert await names_stored(bot) == []


# -- permissions and names ---------------------------------------------------------------------


async def test_sharing_needs_manage_server_and_only_owners_or_managers_change(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot()
    alice = person(discord_api, 101, "alice")
    bob = person(discord_api, 102, "bob")
    mod = person(discord_api, 103, "mod")

    text = await said(await save(discord_api, "Banner", user=alice, shared=True))
    assert "Manage Server permission" in text
    assert await names_stored(bot) == []
    assert discord_api.cdn_requests == []

    message = await saved(discord_api, "Banner", user=alice, shared=True, permissions=MANAGER)
    assert "everyone in this server can pose it" in (message.content or "")
    await saved(discord_api, "Hero", user=alice)

    # Bob sees the shared one, not Alice's own.
    shown = await answer(await character(discord_api, "show", user=bob, name="banner"))
    fields = {field["name"]: field["value"] for field in shown.embeds[0]["fields"]}
    assert fields["Owner"] == "<@101>"
    assert fields["Shared"].startswith("Yes")
    text = await said(await character(discord_api, "show", user=bob, name="Hero"))
    assert text.startswith("You have no character called “Hero”")
    text = await said(await character(discord_api, "rename", user=bob, name="Hero", new_name="X"))
    assert text.startswith("You have no character called “Hero”")

    text = await said(
        await character(discord_api, "rename", user=bob, name="Banner", new_name="Mine")
    )
    assert text == (
        "Only the owner of “Banner”, or someone with the Manage Server permission, can rename it."
    )
    text = await said(await character(discord_api, "delete", user=bob, name="Banner"))
    assert text.endswith("can delete it.")
    assert sorted(await names_stored(bot)) == ["Banner", "Hero"]

    text = await said(
        await character(
            discord_api, "rename", user=mod, permissions=MANAGER, name="banner", new_name="Flag"
        )
    )
    assert text == "Renamed “Banner” to “Flag”."
    text = await said(
        await character(discord_api, "rename", user=alice, name="hero", new_name="Knight")
    )
    assert text == "Renamed “Hero” to “Knight”."
    assert sorted(await names_stored(bot)) == ["Flag", "Knight"]


async def test_names_clash_without_regard_to_case(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot()
    alice = person(discord_api, 201, "alice")
    bob = person(discord_api, 202, "bob")
    await saved(discord_api, "Hero", user=alice)
    await saved(discord_api, "Mage", user=alice)
    downloads = len(discord_api.cdn_requests)
    for clash in ("HERO", "  hero "):
        text = await said(await save(discord_api, clash, user=alice))
        assert text == "You already have a character called “Hero”."
    assert len(discord_api.cdn_requests) == downloads, "refused before the download"
    await saved(discord_api, "Hero", user=bob)  # names are per owner

    text = await said(
        await character(discord_api, "rename", user=alice, name="mage", new_name="hERO")
    )
    assert text == "There is already a character called “Hero”."
    text = await said(
        await character(discord_api, "rename", user=alice, name="hero", new_name="HERO")
    )
    assert text == "Renamed “Hero” to “HERO”.", "a change of case is no clash"
    assert sorted(await names_stored(bot)) == ["HERO", "Hero", "Mage"]


async def test_names_clash_whatever_their_form_and_text_is_kept_clean(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url)
    alice = person(discord_api, 211, "alice")
    # A NUL once crashed the save on PostgreSQL; invisible characters are dropped like it.
    message = await saved(
        discord_api, "Aria", user=alice, description="red\x00 cloak,\u200b silver\ufeff hair"
    )
    assert message.embeds[0]["description"] == "red cloak, silver hair"
    [row] = await rows(bot, "SELECT name, description FROM characters")
    assert (row["name"], row["description"]) == ("Aria", "red cloak, silver hair")

    for clash in ("Ａria", "ＡＲＩＡ", "Ar\u200bia"):
        text = await said(await save(discord_api, clash, user=alice))
        assert text == "You already have a character called “Aria”.", clash
    await saved(discord_api, "Mage", user=alice)
    text = await said(
        await character(discord_api, "rename", user=alice, name="ｍａｇｅ", new_name="Ａria")
    )
    assert text == "There is already a character called “Aria”."
    shown = await answer(await character(discord_api, "show", user=alice, name="ａｒｉａ"))
    assert shown.embeds[0]["title"] == "Aria"
    assert sorted(await names_stored(bot)) == ["Aria", "Mage"]


async def test_the_limit_per_user(start_bot: StartBot, discord_api: FakeDiscord) -> None:
    bot = await start_bot(user_max_characters=2)
    alice = person(discord_api, 301, "alice")
    await saved(discord_api, "One", user=alice)
    await saved(discord_api, "Two", user=alice)
    downloads = len(discord_api.cdn_requests)
    text = await said(await save(discord_api, "Three", user=alice))
    assert text == (
        "You have 2 characters, the most one person may keep. "
        "Delete one with /character delete first."
    )
    assert len(discord_api.cdn_requests) == downloads
    await saved(discord_api, "Three", user=person(discord_api, 302, "bob"))
    assert await names_stored(bot) == ["One", "Two", "Three"]


# -- autocomplete and the list -----------------------------------------------------------------


async def test_autocomplete_offers_only_what_the_user_may_use(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot(user_max_characters=30)
    alice = person(discord_api, 401, "alice")
    bob = person(discord_api, 402, "bob")
    carol = person(discord_api, 403, "carol")
    await saved(discord_api, "Zed", user=alice)
    await saved(discord_api, "Alpha", user=alice)
    await saved(discord_api, "Banner", user=bob, shared=True, permissions=MANAGER)
    await saved(discord_api, "Secret", user=carol)

    offered = await choices(discord_api, "", user=alice)
    assert offered == [
        {"name": "Alpha", "value": "Alpha"},
        {"name": "Zed", "value": "Zed"},
        {"name": "Banner (shared)", "value": "Banner"},
    ]
    assert [c["value"] for c in await choices(discord_api, "A", user=alice)] == [
        "Alpha",
        "Banner",
    ]
    assert await choices(discord_api, "secret", user=alice) == []
    for subcommand in ("rename", "delete"):
        offered = await choices(discord_api, "e", user=carol, subcommand=subcommand)
        assert [c["value"] for c in offered] == ["Secret", "Banner"]

    # Never more than Discord takes, own ones first.
    for n in range(26):
        await bot.characters.save(
            owner_id=401,
            guild_id=FakeDiscord.GUILD_ID,
            name=f"Extra {n:02}",
            description="",
            shared=False,
            image_format="png",
            width=1,
            height=1,
            data=png((1, 1)),
            now=0.0,
        )
    offered = await choices(discord_api, "", user=alice)
    assert len(offered) == 25
    assert "Banner" not in [c["value"] for c in offered]


async def test_the_list_pages_ten_at_a_time(start_bot: StartBot, discord_api: FakeDiscord) -> None:
    await start_bot(user_max_characters=12)
    alice = person(discord_api, 501, "alice")
    for n in range(12):
        await saved(discord_api, f"Char {n:02}", user=alice, image=png(colour=(n * 20, 0, 0)))
    await saved(
        discord_api,
        "Town Crier",
        user=person(discord_api, 502, "bob"),
        shared=True,
        permissions=MANAGER,
    )

    interaction = await character(discord_api, "list", user=alice)
    listed = await answer(interaction)
    assert interaction.deferred_ephemeral
    assert "page 1 of 2" in (listed.content or "")
    assert [e["title"] for e in listed.embeds] == [f"Char {n:02}" for n in range(10)]
    assert len(listed.files) == 10
    assert [e["thumbnail"]["url"] for e in listed.embeds] == [
        f"attachment://{name}" for name, _, _ in listed.files
    ]
    assert button(listed, "Previous").get("disabled")
    assert not button(listed, "Next").get("disabled")

    await press(discord_api, listed, "Next")
    await interaction.wait_for(lambda i: "page 2 of 2" in (listed.content or ""))
    assert [e["title"] for e in listed.embeds] == ["Char 10", "Char 11", "Town Crier"]
    assert len(listed.files) == 3
    assert listed.embeds[-1]["fields"][0] == {"name": "Owner", "value": "<@502>", "inline": True}
    assert button(listed, "Next").get("disabled")

    await press(discord_api, listed, "Previous")
    await interaction.wait_for(lambda i: "page 1 of 2" in (listed.content or ""))
    assert len(listed.embeds) == len(listed.files) == 10


# -- deleting ----------------------------------------------------------------------------------


async def test_delete_asks_first(start_bot: StartBot, discord_api: FakeDiscord) -> None:
    bot = await start_bot()
    await saved(discord_api, "Hero")

    question = await answer(await character(discord_api, "delete", name="hero"))
    assert question.content == "Delete “Hero” for good?"
    await press(discord_api, question, "Cancel")
    await discord_api.wait_for(lambda: question.content == "Kept “Hero”.")
    assert question.components == []
    assert await names_stored(bot) == ["Hero"]

    question = await answer(await character(discord_api, "delete", name="Hero"))
    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: question.content == "Deleted “Hero”.")
    assert question.components == []
    assert await names_stored(bot) == []
    text = await said(await character(discord_api, "show", name="Hero"))
    assert text.startswith("You have no character called “Hero”")


async def test_an_unanswered_delete_keeps_the_character(
    start_bot: StartBot, discord_api: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await start_bot()
    # The module the bot loaded (load_extension imports it afresh), not the test's import.
    monkeypatch.setattr(sys.modules["bot.ui.confirm"], "CONFIRM_TIMEOUT_SECONDS", 0.3)
    await saved(discord_api, "Hero")
    question = await answer(await character(discord_api, "delete", name="Hero"))
    await discord_api.wait_for(lambda: (question.content or "").startswith("No answer"))
    assert question.components == [], "the buttons are gone"
    assert await names_stored(bot) == ["Hero"]


# -- forgetting a user -------------------------------------------------------------------------


async def test_forget_me_deletes_every_row_of_the_user_and_no_other(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    bot = await start_bot(
        database_url=database_url, segmind_max_concurrency=1, user_cooldown_seconds=0
    )
    alice = person(discord_api, 601, "alice")
    bob = person(discord_api, 602, "bob")
    await saved(discord_api, "Hero", user=alice)
    await saved(discord_api, "Mage", user=alice, shared=True, permissions=MANAGER)
    await saved(discord_api, "Bard", user=bob)
    result = await pose(discord_api, user=alice)
    await delivered(result, timeout=30)
    segmind.faults.append(Fault(kind="hang"))
    await pose(discord_api, user=bob)  # keeps the only slot busy
    await discord_api.wait_for(lambda: len(segmind.submits) == 2)
    queued = await pose(discord_api, user=alice)
    await queued.wait_for(lambda i: "Queued" in card_text(i))
    alices_jobs = [
        row["id"] for row in await rows(bot, "SELECT id FROM jobs WHERE requester_id = $1", 601)
    ]
    assert len(alices_jobs) == 2

    question = await answer(await discord_api.invoke("forget-me", user=alice))
    assert "cannot be undone" in (question.content or "")
    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: (question.content or "").startswith("Deleted"))
    assert question.content == (
        "Deleted 2 characters and 2 requests with their images."
        " Removed 1 of the bot's messages with your results."
    )
    await result.wait_for(lambda i: i.original_deleted, timeout=5)  # the result is gone too
    await queued.wait_for(lambda i: i.original_deleted, timeout=5)
    assert (await bot.runner.queue.snapshot(bot.clock())).order == []

    assert await rows(bot, "SELECT id FROM characters WHERE owner_id = $1", 601) == []
    assert await rows(bot, "SELECT id FROM jobs WHERE requester_id = $1", 601) == []
    for job_id in alices_jobs:
        assert await rows(bot, "SELECT role FROM job_images WHERE job_id = $1", job_id) == []
    assert await names_stored(bot) == ["Bard"]
    [bobs_job] = await rows(bot, "SELECT id FROM jobs WHERE requester_id = $1", 602)
    assert await rows(bot, "SELECT role FROM job_images WHERE job_id = $1", bobs_job["id"])
    assert await choices(discord_api, "", user=alice) == []
    await asyncio.wait_for(bot.shutdown(grace=0.2), timeout=15)


async def test_forget_me_leaves_a_running_generation_to_finish_and_can_be_cancelled(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot = await start_bot()
    await saved(discord_api, "Hero")
    segmind.faults.append(Fault(kind="hang"))
    await pose(discord_api)
    await discord_api.wait_for(lambda: len(segmind.submits) == 1)
    question = await answer(await discord_api.invoke("forget-me"))
    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: (question.content or "").startswith("Deleted"))
    assert question.content == (
        "Deleted 1 character and 0 requests with their images. 1 started request(s) are paid"
        " for and will finish; use /forget-me again once they are done."
    )
    [running] = await bot.store.jobs(["running"])  # paid for: never deleted under its runner
    await asyncio.wait_for(bot.shutdown(grace=0.2), timeout=15)

    bot = await start_bot()  # the cut-off generation runs again, without hanging this time
    await stored_jobs(bot.store, "delivered")
    await saved(discord_api, "Hero")
    question = await answer(await discord_api.invoke("forget-me"))
    await press(discord_api, question, "Cancel")
    await discord_api.wait_for(lambda: question.content == "Nothing was deleted.")
    assert await names_stored(bot) == ["Hero"]
    assert await bot.store.job(running.id) is not None


async def test_forget_me_works_in_direct_messages(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot = await start_bot(discord_guild_id=None)  # global commands, as in production
    alice = person(discord_api, 701, "alice")
    await saved(discord_api, "Hero", user=alice)
    await saved(discord_api, "Bard", user=person(discord_api, 702, "bob"))
    question = await answer(await discord_api.invoke("forget-me", user=alice, guild=False))
    await press(discord_api, question, "Confirm")
    await discord_api.wait_for(lambda: (question.content or "").startswith("Deleted"))
    assert question.content == "Deleted 1 character and 0 requests with their images."
    assert await names_stored(bot) == ["Bard"]

    again = await answer(await discord_api.invoke("forget-me", user=alice, guild=False))
    await press(discord_api, again, "Confirm")
    await discord_api.wait_for(lambda: (again.content or "").startswith("There was nothing"))


async def test_characters_outlive_a_restart(
    start_bot: StartBot, discord_api: FakeDiscord, database_url: str
) -> None:
    bot = await start_bot(database_url=database_url)
    await saved(discord_api, "Hero", image=png((500, 300)), description="a knight")
    await asyncio.wait_for(bot.shutdown(grace=1), timeout=15)

    await start_bot(database_url=database_url)
    shown = await answer(await character(discord_api, "show", name="Hero"))
    assert shown.embeds[0]["description"] == "a knight"
    assert decode(shown.files[0][1]).size == (500, 300)
    assert await choices(discord_api, "he") == [{"name": "Hero", "value": "Hero"}]


async def test_blocked_words_are_refused_on_every_way_to_name_a_character(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    """/character save and rename, and the 💾 form under a result (in the server or, for a
    private result, in a direct message): a word the server blocks names nothing."""
    bot = await start_bot(database_url=database_url, user_cooldown_seconds=0)
    segmind.latency = 0.5
    alice = person(discord_api, 31, "alice")
    await saved(discord_api, "Knight", user=alice)
    await admin(discord_api, "block", word="gore")

    refusal = "does not allow the word “gore”"
    assert refusal in await said(await save(discord_api, "Gore Lord", user=alice))
    renamed = await character(discord_api, "rename", user=alice, name="Knight", new_name="Gore")
    assert refusal in await said(renamed)

    result = await delivered(await pose(discord_api, user=alice))
    form = await discord_api.press(result, result_buttons(result)["Save character"], user=alice)
    await form.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(form, {"name": "Hero", "description": "all GORE"})
    assert refusal in await said(submitted)

    dm = await direct_result(discord_api, segmind, alice, database_url)
    form = await discord_api.press(dm, result_buttons(dm)["Save character"], user=alice)
    await form.wait_for(lambda i: i.modal is not None)
    submitted = await discord_api.submit_modal(form, {"name": "gore"})
    assert refusal in await said(submitted)
    assert await names_stored(bot) == ["Knight"]
