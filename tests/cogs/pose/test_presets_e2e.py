"""/pose's expression and camera presets: English words for the API, the reader's language on
the result, kept by a Reroll (on SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.cogs.pose.test_results_e2e import buttons
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import delivered, pose

PROMPT = "the hero, sitting on a rock"
SENT = f"{PROMPT}, surprised expression, wide eyes, open mouth, low angle shot, seen from below"


def fields(result: FakeMessage) -> dict[str, str]:
    return {field["name"]: field["value"] for field in result.embeds[0]["fields"]}


async def test_presets_send_english_words_and_show_on_the_result_and_its_reroll(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind, database_url: str
) -> None:
    discord_api.guild_locale = "de"  # a German server: its channel reads German
    await start_bot(user_cooldown_seconds=0, database_url=database_url)
    requested = await pose(
        discord_api, prompt=PROMPT, locale="de", expression="surprised", camera="low-angle"
    )
    result = await delivered(requested)
    [submit] = segmind.submits
    assert submit.body["prompt"] == SENT, "the API's words are English, whatever the language"
    assert result.embeds[0]["description"] == PROMPT, "the user's own words, as they wrote them"
    shown = fields(result)
    assert (shown["Ausdruck"], shown["Kamera"]) == ("Überrascht", "Froschperspektive")

    # The job was stored with its presets: the Reroll, read back from the database, keeps them.
    rerolled = await delivered(await discord_api.press(result, buttons(result)["Neu würfeln"]))
    again = segmind.submits[1].body
    assert again["prompt"] == SENT
    assert again["seed"] != submit.body["seed"]
    shown = fields(rerolled)
    assert (shown["Ausdruck"], shown["Kamera"]) == ("Überrascht", "Froschperspektive")


async def test_the_result_names_the_presets_in_english_and_only_those_chosen(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    await start_bot(user_cooldown_seconds=0)
    camera_only = await delivered(await pose(discord_api, prompt=PROMPT, camera="three-quarter"))
    assert segmind.submits[0].body["prompt"] == f"{PROMPT}, three-quarter view"
    shown = fields(camera_only)
    assert shown["Camera"] == "Three-quarter view"
    assert "Expression" not in shown

    # A New pose is a new prompt for the same picture: the presets stay.
    new_pose = await discord_api.press(camera_only, buttons(camera_only)["New pose"])
    await new_pose.wait_for(lambda i: i.modal is not None)
    await delivered(await discord_api.submit_modal(new_pose, {"prompt": "now jumping"}))
    assert segmind.submits[1].body["prompt"] == "now jumping, three-quarter view"

    plain = await delivered(await pose(discord_api, prompt=PROMPT))
    assert segmind.submits[2].body["prompt"] == PROMPT
    assert not {"Expression", "Camera"} & set(fields(plain))


async def test_the_presets_are_offered_in_every_language(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot()
    [command] = [c for c in discord_api.synced_commands if c["name"] == "pose"]
    options = {option["name"]: option for option in command["options"]}
    expression, camera = options["expression"], options["camera"]
    assert [c["value"] for c in expression["choices"]] == [
        "happy", "sad", "angry", "surprised", "scared", "thinking", "determined", "sleepy"
    ]  # fmt: skip
    assert len(camera["choices"]) == 8
    assert expression["name_localizations"]["de"] == "ausdruck"
    assert camera["name_localizations"]["ja"] == "カメラ"
    [sleepy] = [c for c in expression["choices"] if c["value"] == "sleepy"]
    assert sleepy["name"] == "Sleepy"
    assert sleepy["name_localizations"]["fr"] == "Endormi"
    [behind] = [c for c in camera["choices"] if c["value"] == "from-behind"]
    for language in ("es-ES", "pt-BR", "fr", "de", "ja"):
        assert behind["name_localizations"][language], language
