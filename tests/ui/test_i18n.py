"""Every text in six languages: the catalogs are current and complete, `tr` picks the reader's
language, /pose answers each user in theirs and shows its public card in the server's, and the
commands are registered with names and descriptions Discord accepts in every language."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.domain.pose_request import InvalidRequest
from bot.ui.i18n import CATALOGS, LOCALES_DIR, mark, tr, valid_command_name
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.limits import valid_slash_name
from tests.fakes.segmind import FakeSegmind, Fault
from tests.user_actions import accepted, card_text, delivered, pose, private_text, refused

ROOT = Path(__file__).resolve().parents[2]
# As `make catalogs` extracts them.
KEYWORDS: dict[str, Any] = {
    "tr": (2,),
    "mark": None,
    "locale_str": None,
    "named": ((1, "c"), 2),
}
# A text as the catalogs key it: its English, and its context (a command's name has one).
Key = tuple[str, str | None]
LANGUAGES = sorted(CATALOGS)


def _extracted() -> dict[Key, str]:
    """Every text the code marks, with its context, and a file that uses it."""
    found: dict[Key, str] = {}
    for folder in ("bot", "cogs"):
        for filename, _, message, _, context in extract_from_dir(
            ROOT / folder, keywords=KEYWORDS, comment_tags=()
        ):
            assert isinstance(message, str), f"{folder}/{filename}: {message!r}"
            found.setdefault((message, context), f"{folder}/{filename}")
    return found


EXTRACTED = _extracted()


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_the_template_holds_exactly_the_texts_of_the_code() -> None:
    template = {
        (message.id, message.context)
        for message in _catalog(LOCALES_DIR / "bot.pot")
        if isinstance(message.id, str) and message.id
    }
    missing = sorted(set(EXTRACTED) - template)
    assert not missing, f"run `make catalogs`; not in bot.pot: {missing}"
    assert template <= set(EXTRACTED), f"gone from the code: {sorted(template - set(EXTRACTED))}"
    assert len(EXTRACTED) > 200


@pytest.mark.parametrize("locale", LANGUAGES)
def test_every_text_is_translated_with_the_same_placeholders(locale: str) -> None:
    language = CATALOGS[locale]
    catalog = _catalog(LOCALES_DIR / language / "LC_MESSAGES" / "bot.po", language)
    problems = []
    for (text, context), where in EXTRACTED.items():
        entry = catalog.get(text, context=context)
        if entry is None or not entry.string or entry.fuzzy:
            problems.append(f"untranslated ({where}): {text!r}")
        elif _placeholders(entry.string) != _placeholders(text):
            problems.append(f"placeholders differ ({where}): {text!r} -> {entry.string!r}")
    assert not problems, "\n".join(problems)


def test_tr_translates_then_fills_and_falls_back_to_english() -> None:
    assert tr("ja", "Your pose is ready.") == "ポーズができあがりました。"
    assert tr("es-419", "Your pose is ready.") == "Tu pose está lista.", "reads es-ES"
    assert tr("ko", "Your pose is ready.") == "Your pose is ready.", "no catalog: English"
    assert tr(None, "Your pose is ready.") == "Your pose is ready."
    assert tr("de", "A text no catalog has, {name}.", name="Ann") == "A text no catalog has, Ann."
    # Values are filled after translating, and are not read as placeholders themselves.
    assert tr("fr", "{name} (shared)", name="{when}") == "{when} (partagé)"
    # A marked value is a text of its own, translated too.
    label = mark("The pose image")
    assert tr("es-ES", "{label} is an empty file.", label=label) == (
        "La imagen de la pose es un archivo vacío."
    )


def test_a_user_error_carries_its_english_text_and_values() -> None:
    error = InvalidRequest(mark("Steps must be from {least} to {most}."), least=1, most=70)
    assert str(error) == "Steps must be from 1 to 70."
    assert tr("pt-BR", error.message, **error.values) == "Os passos devem ficar entre 1 e 70."


def test_command_names_follow_discords_rule() -> None:
    for name in ("pose", "ポーズ", "größe", "prompt_négatif", "vergiss-mich", "新しい名前"):
        assert valid_command_name(name) and valid_slash_name(name), name
    for name in ("Pose", "new name", "", "x" * 33, "pose!", "Größe"):
        assert not valid_command_name(name) and not valid_slash_name(name), name


# -- end to end --------------------------------------------------------------------------------

JAPANESE, SPANISH, BRAZILIAN = 510_001, 510_002, 510_003


async def test_each_user_reads_their_language_and_the_card_the_servers(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    discord_api.guild_locale = "fr"  # a French server
    await start_bot(user_cooldown_seconds=60)
    japanese = discord_api.make_user(JAPANESE, "yuki")
    spanish = discord_api.make_user(SPANISH, "lucia")

    # A refusal written in the rules, answered privately in each user's own language.
    empty = "\u200b"  # invisible: an empty prompt once cleaned
    text = await refused(await pose(discord_api, user=japanese, locale="ja", prompt=empty))
    assert text == "プロンプトが空です。キャラクターとポーズを説明してください。"
    text = await refused(await pose(discord_api, user=spanish, locale="es-ES", prompt=empty))
    assert text == "El prompt está vacío: describe el personaje y la pose."

    # The public card and the result speak the server's language, whoever asked.
    segmind.latency = 1.0
    asked = [
        await pose(discord_api, user=japanese, locale="ja"),
        await pose(discord_api, user=spanish, locale="es-ES"),
    ]
    for interaction in asked:
        await accepted(interaction)
        assert card_text(interaction).startswith(("⏳ En file d’attente", "🎨 Génération")), (
            card_text(interaction)
        )
    for interaction in asked:
        result = await delivered(interaction)
        names = [field["name"] for field in result.embeds[0]["fields"]]
        assert names[:6] == ["Graine", "Étapes", "Guidage", "Taille", "Durée", "Demandé par"]
        assert result.embeds[0]["fields"][3]["value"].startswith("carré ")
        labels = [c["label"] for row in result.components for c in row["components"]]
        assert labels == [
            "Relancer",
            "Nouvelle pose",
            "Enregistrer le personnage",
            "Ajouter à l’histoire",
            "Supprimer",
        ]

    # Private again: each one's cooldown, in their own language.
    text = await refused(await pose(discord_api, user=japanese, locale="ja"))
    assert text.startswith("次の生成は<t:") and text.endswith(">に開始できます。"), text
    text = await refused(await pose(discord_api, user=spanish, locale="es-ES"))
    assert text.startswith("Puedes empezar tu siguiente generación <t:"), text


async def test_a_failure_reported_by_the_engine_is_in_the_requesters_language(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    """The engine reports it later, from the job: the requester's locale is kept with it."""
    discord_api.guild_locale = "de"
    await start_bot()
    segmind.faults.append(Fault(status=400, body={"error": "bad prompt"}))
    brazilian = discord_api.make_user(BRAZILIAN, "bia")
    interaction = await pose(discord_api, user=brazilian, locale="pt-BR")
    text = await refused(interaction)
    assert text == "O serviço de imagens recusou este pedido: bad prompt"
    assert private_text(interaction) == text


def _localized(item: dict[str, Any], key: str) -> dict[str, str]:
    return item.get(f"{key}_localizations") or {}


async def test_the_commands_are_registered_in_every_language(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    await start_bot()  # the fake Discord refuses a name or description Discord would refuse
    commands = discord_api.synced_commands
    assert commands
    wanted = set(LANGUAGES)
    seen = 0

    def check(item: dict[str, Any], *, slash: bool, described: bool) -> None:
        nonlocal seen
        seen += 1
        names = _localized(item, "name")
        assert wanted <= set(names), (item["name"], sorted(names))
        for name in names.values():
            assert not slash or valid_slash_name(name), (item["name"], name)
        if described:
            descriptions = _localized(item, "description")
            assert wanted <= set(descriptions), (item["name"], sorted(descriptions))
            assert all(1 <= len(text) <= 100 for text in descriptions.values())
        for choice in item.get("choices") or []:
            choices = _localized(choice, "name")
            assert wanted <= set(choices), choice
            assert all(1 <= len(text) <= 100 for text in choices.values())
        for option in item.get("options") or []:
            check(option, slash=True, described=True)

    for command in commands:
        slash = command.get("type", 1) == 1
        check(command, slash=slash, described=slash)
        if slash:  # options of one command keep distinct names in every language
            for locale in wanted:
                options = [_localized(o, "name")[locale] for o in command.get("options") or []]
                assert len(options) == len(set(options)), (command["name"], locale, options)
    assert seen > 50

    [pose_command] = [c for c in commands if c["name"] == "pose" and c.get("type", 1) == 1]
    assert pose_command["name_localizations"]["ja"] == "ポーズ"
    assert pose_command["description_localizations"]["es-ES"].startswith("Pon en pose")
    [menu] = [c for c in commands if c.get("type") == 3]
    assert menu["name_localizations"]["de"] == "Diese Figur posieren lassen"
