"""Sizes and kinds of images read in the reader's language wherever they are shown, and a
command's name is translated apart from a label that reads the same in English."""

from __future__ import annotations

import pytest

from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import delivered, pose, refused

STORAGE_KINDS = {
    "de": (
        "posierte Figuren",
        "Posenvorlagen",
        "Ergebnisse",
        "gespeicherte Figuren",
        "Panels von Geschichten",
    ),
    "ja": (
        "ポーズを付けたキャラクター",
        "ポーズの参考画像",
        "結果",
        "保存したキャラクター",
        "ストーリーのコマ",
    ),
}
SIZES = {
    "de": ("Quadratisch (1024×1024)", "Hochformat (832×1216)", "Querformat (1216×832)"),
    "ja": ("正方形（1024×1024）", "縦長（832×1216）", "横長（1216×832）"),
}


@pytest.mark.parametrize("locale", sorted(STORAGE_KINDS))
async def test_admin_storage_names_each_kind_of_image_in_the_owners_language(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, locale: str
) -> None:
    await start_bot()
    await delivered(await pose(discord_api))
    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    answer = await discord_api.invoke("admin", subcommand="storage", user=owner, locale=locale)
    text = await refused(answer)
    listed = [line[2:].partition(":")[0] for line in text.splitlines() if line.startswith("- ")]
    assert listed == list(STORAGE_KINDS[locale])


@pytest.mark.parametrize("locale", sorted(SIZES))
async def test_settings_offers_the_sizes_in_the_users_language(
    start_bot: StartBot, discord_api: FakeDiscord, locale: str
) -> None:
    await start_bot()
    opened = await discord_api.invoke("settings", locale=locale)
    await opened.wait_for(lambda i: i.original is not None)
    panel = opened.original
    assert panel is not None
    [size_select] = [
        c
        for row in panel.components
        for c in row.get("components", [])
        if c.get("custom_id") == "settings:size"
    ]
    labels = [option["label"] for option in size_select["options"]]
    assert labels[1:] == list(SIZES[locale])
    assert SIZES[locale][0] in labels[0], "the bot's default, named in the same words"
    assert SIZES[locale][0] in (panel.content or "")


async def test_a_command_name_and_a_label_that_read_the_same_are_translated_apart(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot()
    [admin] = [c for c in discord_api.synced_commands if c["name"] == "admin"]
    [results] = [o for o in admin["options"] if o["name"] == "results"]
    assert results["name_localizations"]["de"] == "ergebnisse", "a valid command name"
