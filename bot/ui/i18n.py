"""The user's language: every text a user reads goes through `tr`, with the locale of whom it
is for (the interaction's locale for a private answer, the server's for a public one).

`message` is the English text, with `{name}` placeholders filled from `values`; it is also the
key of its translations. Texts defined below the UI (a rule's refusal, a domain error) are
marked with `mark` where they are written, and translated where they are shown.

The translations are gettext catalogs, `bot/locales/<language>/LC_MESSAGES/bot.po`, extracted
from the code and updated with Babel (`make catalogs`). They are read from the `.po` files
themselves when first needed: there is no compiled file to build or to forget to rebuild, so a
checkout runs as it is. A locale without a catalog, and a text its catalog lacks, are English.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from pathlib import Path
from typing import Literal

import discord
from babel.messages.pofile import read_po
from discord import app_commands

from bot.domain.translatable import Marked, mark

__all__ = ["CatalogTranslator", "locale_of", "mark", "named", "public_locale", "tr"]

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "bot"
ENGLISH = "en-US"
# Discord's locales that have a catalog, and the catalog's folder (a gettext language tag).
CATALOGS: dict[str, str] = {
    "es-ES": "es",
    "pt-BR": "pt_BR",
    "fr": "fr",
    "de": "de",
    "ja": "ja",
}
# Discord's locales that read another's catalog: Latin American Spanish reads Spain's.
ALIASES: dict[str, str] = {"es-419": "es-ES"}
# How a catalog entry with a context is keyed here: as gettext keys it, context EOT message.
CONTEXT_SEPARATOR = "\x04"


def tr(locale: discord.Locale | str | None, message: str, /, **values: object) -> str:
    """`message` in the language of `locale`, English when it has no translation; then its
    `{placeholders}` filled from `values` (a marked value is translated first)."""
    text = translations(locale).get(message) or message
    if not values:
        return text
    filled = {
        name: tr(locale, value) if isinstance(value, Marked) else value
        for name, value in values.items()
    }
    return text.format(**filled)


def catalog_locale(locale: discord.Locale | str | None) -> str | None:
    """The Discord locale whose catalog serves `locale`, or None for English."""
    value = getattr(locale, "value", locale)
    if not isinstance(value, str):
        return None
    value = ALIASES.get(value, value)
    return value if value in CATALOGS else None


def translations(locale: discord.Locale | str | None) -> dict[str, str]:
    """The catalog of `locale` as {English: translation}; empty for English."""
    served = catalog_locale(locale)
    return _read_catalog(CATALOGS[served]) if served is not None else {}


@functools.cache
def _read_catalog(language: str) -> dict[str, str]:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as file:
            catalog = read_po(file, locale=language)
    except OSError as error:
        log.error("no catalog for %s, its texts are shown in English: %s", language, error)
        return {}
    # As msgfmt does: an untranslated or fuzzy entry is not a translation.
    return {
        _key(message.context, message.id): message.string
        for message in catalog
        if message.id and isinstance(message.id, str) and message.string and not message.fuzzy
    }


def _key(context: str | None, message: str) -> str:
    return message if context is None else f"{context}{CONTEXT_SEPARATOR}{message}"


def named(context: Literal["command"], name: str) -> app_commands.locale_str:
    """The name of a command, group or option, translated from the catalogs' entry with that
    `context` ("command"; written out for `make catalogs`, as pgettext's context is). A name
    has a context of its own: it is one lowercase word Discord checks, and must never be the
    translation of a label that reads the same in English ("results", a kind of image)."""
    return app_commands.locale_str(name, context=context)


def locale_of(interaction: discord.Interaction) -> discord.Locale:
    """The language of an answer only the user who acted will see."""
    return interaction.locale


def public_locale(interaction: discord.Interaction) -> discord.Locale:
    """The language of what everyone in the channel sees: the server's, else the user's."""
    return interaction.guild_locale or interaction.locale


# Discord's rule for the names of slash commands, their groups and options, in every language
# (letters and digits of any script, `-` and `_`, lowercase where a letter has a lowercase).
MAX_NAME = 32
_DEVANAGARI_THAI = re.compile(r"[\u0900-\u097F\u0E00-\u0E7F]")


def valid_command_name(name: str) -> bool:
    """Whether Discord takes `name` as a slash command's, a group's or an option's name."""
    if not 1 <= len(name) <= MAX_NAME or name.lower() != name:
        return False
    return all(
        char in "-_"
        or unicodedata.category(char)[0] in "LN"
        or _DEVANAGARI_THAI.match(char) is not None
        for char in name
    )


_NAMES = (
    app_commands.TranslationContextLocation.command_name,
    app_commands.TranslationContextLocation.group_name,
    app_commands.TranslationContextLocation.parameter_name,
)


class CatalogTranslator(app_commands.Translator):
    """Names, descriptions and choices of the commands, from the same catalogs as `tr`."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContext,
    ) -> str | None:
        key = _key(string.extras.get("context"), string.message)
        translated = translations(locale).get(key)
        if translated is None:
            return None
        is_menu = isinstance(context.data, app_commands.ContextMenu)
        if context.location in _NAMES and not is_menu and not valid_command_name(translated):
            # One bad name would make Discord refuse every command: this one stays English.
            log.error("the %s name %r is not a valid command name", locale.value, translated)
            return None
        return translated
