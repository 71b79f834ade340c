"""Discord's limits on what a bot sends, and the check the fake Discord makes of every payload.

The limits are taken from Discord's OpenAPI description of its v10 HTTP API
(github.com/discord/discord-api-spec, ``specs/openapi.json``); each table names the request
schemas it comes from. A few limits that Discord enforces but the description does not carry
(or carries looser) come from Discord's documentation and are marked "docs".

Each table maps a path in the payload to a `Length` (characters of a string, or items of a
list) or a `Value` (an integer's range); ``*`` stands for every item of a list. The checks
return Discord's error tree for a 400 ``{"code": 50035, "message": "Invalid Form Body"}``:
the payload's path, with list indices as strings, down to ``{"_errors": [...]}``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

JSON = dict[str, Any]
Path = tuple[str, ...]

INVALID_FORM_BODY = 50035


class Length(NamedTuple):
    """How many characters a string, or items a list, may have."""

    least: int
    most: int

    def error(self, value: object) -> JSON | None:
        if not isinstance(value, str | list) or self.least <= len(value) <= self.most:
            return None
        if self.least == 0:
            return _error("BASE_TYPE_MAX_LENGTH", f"Must be {self.most} or fewer in length.")
        message = f"Must be between {self.least} and {self.most} in length."
        return _error("BASE_TYPE_BAD_LENGTH", message)


class Value(NamedTuple):
    """The range of an integer."""

    least: int
    most: int

    def error(self, value: object) -> JSON | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if value < self.least:
            return _error("NUMBER_TYPE_MIN", f"Must be greater than or equal to {self.least}.")
        if value > self.most:
            return _error("NUMBER_TYPE_MAX", f"Must be less than or equal to {self.most}.")
        return None


Limit = Length | Value
Limits = Mapping[Path, Limit]

# -- the tables ----------------------------------------------------------------------------------

# Messages, on every route that creates or edits one: MessageCreateRequest and
# MessageEditRequestPartial (channel messages, direct messages), IncomingWebhookRequestPartial
# and IncomingWebhookUpdateRequestPartial (followups, edits of @original and other webhook
# messages), IncomingWebhookInteractionRequest and
# IncomingWebhookUpdateForInteractionCallbackRequestPartial (interaction callbacks 4 and 7);
# with RichEmbed, RichEmbedAuthor/Footer/Image/Thumbnail/Field, MessageAllowedMentionsRequest
# and MessageAttachmentRequest.
MESSAGE_LIMITS: dict[Path, Limit] = {
    # 2000 in the webhook and interaction schemas; MessageCreateRequest says 4000, which only
    # Nitro users get (docs: 2000 for bots).
    ("content",): Length(0, 2000),
    ("embeds",): Length(0, 10),
    ("embeds", "*", "title"): Length(0, 256),
    ("embeds", "*", "description"): Length(0, 4096),
    ("embeds", "*", "url"): Length(0, 2048),
    ("embeds", "*", "color"): Value(0, 0xFFFFFF),
    ("embeds", "*", "author", "name"): Length(0, 256),
    ("embeds", "*", "author", "url"): Length(0, 2048),
    ("embeds", "*", "author", "icon_url"): Length(0, 2048),
    ("embeds", "*", "footer", "text"): Length(0, 2048),
    ("embeds", "*", "footer", "icon_url"): Length(0, 2048),
    ("embeds", "*", "image", "url"): Length(0, 2048),
    ("embeds", "*", "thumbnail", "url"): Length(0, 2048),
    ("embeds", "*", "fields"): Length(0, 25),
    # RichEmbedField requires both; an empty one is refused (docs).
    ("embeds", "*", "fields", "*", "name"): Length(1, 256),
    ("embeds", "*", "fields", "*", "value"): Length(1, 1024),
    ("allowed_mentions", "users"): Length(0, 100),
    ("allowed_mentions", "roles"): Length(0, 100),
    ("sticker_ids",): Length(0, 3),
    ("attachments",): Length(0, 10),
    ("attachments", "*", "filename"): Length(1, 1024),
    ("attachments", "*", "description"): Length(0, 1024),
    ("attachments", "*", "title"): Length(0, 1024),
    # A string nonce; an integer one may be any int64.
    ("nonce",): Length(0, 25),
    # The schemas allow 40 top-level components, for messages flagged IS_COMPONENTS_V2;
    # any other message has at most 5 action rows (docs).
    ("components",): Length(0, 5),
}
COMPONENTS_V2_FLAG = 1 << 15
MAX_COMPONENTS_V2 = 40
# Docs: title, description, field names and values, footer text and author name, summed over
# all the embeds of one message.
MAX_EMBED_TOTAL = 6000
EMBED_TEXT: tuple[Path, ...] = (
    ("title",),
    ("description",),
    ("footer", "text"),
    ("author", "name"),
)

# Components, by type, wherever they appear (messages and modals): the *ComponentForMessageRequest
# and *ComponentForModalRequest schemas, with StringSelectOptionForRequest.
ACTION_ROW, BUTTON, STRING_SELECT, TEXT_INPUT = 1, 2, 3, 4
USER_SELECT, ROLE_SELECT, MENTIONABLE_SELECT, CHANNEL_SELECT = 5, 6, 7, 8
TEXT_DISPLAY, LABEL = 10, 18
_AUTO_SELECT: dict[Path, Limit] = {
    ("custom_id",): Length(1, 100),
    ("placeholder",): Length(0, 150),
    ("min_values",): Value(0, 25),
    ("max_values",): Value(1, 25),
    ("default_values",): Length(0, 25),
}
COMPONENT_LIMITS: dict[int, dict[Path, Limit]] = {
    ACTION_ROW: {("components",): Length(1, 5)},
    BUTTON: {("custom_id",): Length(1, 100), ("label",): Length(0, 80), ("url",): Length(0, 512)},
    STRING_SELECT: {
        ("custom_id",): Length(1, 100),
        ("placeholder",): Length(0, 150),
        ("min_values",): Value(0, 25),
        ("max_values",): Value(1, 25),
        ("options",): Length(1, 25),
        ("options", "*", "label"): Length(1, 100),
        ("options", "*", "value"): Length(1, 100),
        ("options", "*", "description"): Length(0, 100),
    },
    TEXT_INPUT: {
        ("custom_id",): Length(1, 100),
        ("label",): Length(1, 45),
        ("value",): Length(0, 4000),
        ("placeholder",): Length(0, 100),
        ("min_length",): Value(0, 4000),
        ("max_length",): Value(1, 4000),
    },
    USER_SELECT: _AUTO_SELECT,
    ROLE_SELECT: _AUTO_SELECT,
    MENTIONABLE_SELECT: _AUTO_SELECT,
    CHANNEL_SELECT: _AUTO_SELECT,
    TEXT_DISPLAY: {("content",): Length(1, 4000)},
    LABEL: {("label",): Length(1, 45), ("description",): Length(1, 100)},
}
# Where components hold others: rows and containers in "components", labels in "component",
# sections in "accessory".
CHILD_KEYS = ("components", "component", "accessory")

# The modal of a type 9 callback: ModalInteractionCallbackRequestData.
MODAL_LIMITS: dict[Path, Limit] = {
    ("custom_id",): Length(1, 100),
    ("title",): Length(1, 45),
    # The schema allows 40; the documentation says a modal has 1 to 5 components (docs).
    ("components",): Length(1, 5),
}
MODAL_REQUIRED: tuple[str, ...] = ("custom_id", "title", "components")

# The choices of a type 8 callback: InteractionApplicationCommandAutocompleteCallbackStringData
# (and its Integer and Number twins), ApplicationCommandOptionStringChoice.
CHOICE_LIMITS: dict[Path, Limit] = {
    ("choices",): Length(0, 25),
    ("choices", "*", "name"): Length(1, 100),
    # The schema allows 6000; the documentation says a string value has at most 100 (docs).
    ("choices", "*", "value"): Length(0, 100),
}

# Command sync (PUT .../commands, a list of ApplicationCommandUpdateRequest), with the
# ApplicationCommand*Option schemas for options at every depth and
# ApplicationCommandOptionStringChoice for their choices.
MAX_COMMANDS = 130  # the PUT body's maxItems
COMMAND_LIMITS: dict[Path, Limit] = {
    ("name",): Length(1, 32),
    ("description",): Length(0, 100),
    ("options",): Length(0, 25),
}
# A slash command needs a description; context menu commands have none (docs).
CHAT_INPUT_DESCRIPTION = Length(1, 100)
OPTION_LIMITS: dict[Path, Limit] = {
    ("name",): Length(1, 32),
    ("description",): Length(1, 100),
    ("options",): Length(0, 25),
    ("choices",): Length(0, 25),
    ("choices", "*", "name"): Length(1, 100),
    # The schema allows 6000; the documentation says a string value has at most 100 (docs).
    ("choices", "*", "value"): Length(0, 100),
    ("min_length",): Value(0, 6000),
    ("max_length",): Value(1, 6000),
}
# Docs: the name, description and choice values of a command, its options and their choices
# together.
MAX_COMMAND_TOTAL = 8000
# Docs ("Application Command Naming"): the names of slash commands, their subcommands, groups
# and options, in every language: ^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, in lowercase
# where a letter has a lowercase form. Context menu commands may use spaces and capitals.
# Localizations are keyed by Discord's locales, each value within its field's own limits.
LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)

# -- the checks ----------------------------------------------------------------------------------


def message_errors(payload: JSON) -> JSON:
    """What Discord refuses in a message payload (create or edit), as its error tree."""
    errors: JSON = {}
    limits = dict(MESSAGE_LIMITS)
    if (payload.get("flags") or 0) & COMPONENTS_V2_FLAG:
        limits[("components",)] = Length(0, MAX_COMPONENTS_V2)
    if isinstance(payload.get("nonce"), int):
        del limits[("nonce",)]
    _check(payload, limits, errors)
    _check_components(payload.get("components"), ("components",), errors)
    embeds = payload.get("embeds") or []
    total = sum(len(_text(embed, path)) for embed in embeds for path in EMBED_TEXT)
    total += sum(
        len(str(field.get("name") or "")) + len(str(field.get("value") or ""))
        for embed in embeds
        for field in embed.get("fields") or []
    )
    if total > MAX_EMBED_TOTAL:
        message = f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
        _put(errors, ("embeds",), _error("MAX_EMBED_SIZE_EXCEEDED", message))
    return errors


def modal_errors(data: JSON) -> JSON:
    errors: JSON = {}
    for key in MODAL_REQUIRED:
        if not data.get(key):
            _put(errors, (key,), _error("BASE_TYPE_REQUIRED", "This field is required"))
    _check(data, MODAL_LIMITS, errors)
    _check_components(data.get("components"), ("components",), errors)
    return errors


def choices_errors(data: JSON) -> JSON:
    errors: JSON = {}
    _check(data, CHOICE_LIMITS, errors)
    return errors


def commands_errors(commands: Sequence[JSON]) -> JSON:
    """What Discord refuses in a bulk overwrite of commands, keyed by each command's index."""
    errors: JSON = {}
    _check(list(commands), {(): Length(0, MAX_COMMANDS)}, errors)
    for index, command in enumerate(commands):
        at = (str(index),)
        limits = dict(COMMAND_LIMITS)
        if command.get("type", 1) == 1:
            limits[("description",)] = CHAT_INPUT_DESCRIPTION
        _check(command, limits, errors, at)
        _check_names(command, at, errors, limits, slash=command.get("type", 1) == 1)
        _check_options(command.get("options"), (*at, "options"), errors)
        total = _command_text(command)
        if total > MAX_COMMAND_TOTAL:
            message = f"Command exceeds maximum size ({MAX_COMMAND_TOTAL})"
            _put(errors, at, _error("APPLICATION_COMMAND_TOO_LARGE", message))
    return errors


def _check_options(options: object, at: Path, errors: JSON) -> None:
    if not isinstance(options, list):
        return
    for index, option in enumerate(options):
        where = (*at, str(index))
        _check(option, OPTION_LIMITS, errors, where)
        _check_names(option, where, errors, OPTION_LIMITS, slash=True)
        for number, choice in enumerate(option.get("choices") or []):
            _check_localizations(
                choice, (*where, "choices", str(number)), errors, "name", Length(1, 100)
            )
        _check_options(option.get("options"), (*where, "options"), errors)


def valid_slash_name(name: object) -> bool:
    """Discord's naming rule for slash commands and options (see LOCALES above)."""
    if not isinstance(name, str) or not 1 <= len(name) <= 32 or name.lower() != name:
        return False
    return all(
        char in "-_"
        or unicodedata.category(char)[0] in "LN"
        or "\u0900" <= char <= "\u097f"  # Devanagari
        or "\u0e00" <= char <= "\u0e7f"  # Thai
        for char in name
    )


def _check_names(
    item: JSON, at: Path, errors: JSON, limits: Mapping[Path, Limit], *, slash: bool
) -> None:
    """The name (in every language) follows the naming rule, the localizations their limits."""
    names = [(("name",), item.get("name"))]
    names += [
        (("name_localizations", locale), name)
        for locale, name in (item.get("name_localizations") or {}).items()
    ]
    for path, name in names:
        if slash and not valid_slash_name(name):
            _put(errors, (*at, *path), _error("APPLICATION_COMMAND_INVALID_NAME", "Invalid name"))
    _check_localizations(item, at, errors, "name", limits[("name",)])
    if ("description",) in limits:
        _check_localizations(item, at, errors, "description", limits[("description",)])


def _check_localizations(item: JSON, at: Path, errors: JSON, key: str, limit: Length) -> None:
    localizations = item.get(f"{key}_localizations")
    if localizations is None:
        return
    for locale, text in localizations.items():
        where = (*at, f"{key}_localizations", locale)
        if locale not in LOCALES:
            _put(errors, where, _error("LOCALE_INVALID", f"Invalid locale {locale}"))
            continue
        error = limit.error(text)
        if error is not None:
            _put(errors, where, error)


def _command_text(command: JSON) -> int:
    total = len(command.get("name") or "") + len(command.get("description") or "")
    for choice in command.get("choices") or []:
        total += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return total + sum(_command_text(option) for option in command.get("options") or [])


def _check_components(components: object, at: Path, errors: JSON) -> None:
    """Each component's own limits, by its type, and those of the components it holds."""
    if isinstance(components, dict):
        components = [components]
        single = True
    else:
        single = False
    if not isinstance(components, list):
        return
    for index, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        where = at if single else (*at, str(index))
        _check(component, COMPONENT_LIMITS.get(component.get("type"), {}), errors, where)
        for key in CHILD_KEYS:
            _check_components(component.get(key), (*where, key), errors)


def _check(data: object, limits: Limits, errors: JSON, at: Path = ()) -> None:
    for path, limit in limits.items():
        for found_at, value in _values(data, path, at):
            error = limit.error(value)
            if error is not None:
                _put(errors, found_at, error)


def _values(data: object, path: Path, at: Path) -> Iterator[tuple[Path, object]]:
    """The values at `path` (``*``: every item of a list), each with where it was found."""
    if not path:
        yield at, data
        return
    key, rest = path[0], path[1:]
    if key == "*":
        if isinstance(data, list):
            for index, item in enumerate(data):
                yield from _values(item, rest, (*at, str(index)))
    elif isinstance(data, dict) and data.get(key) is not None:
        yield from _values(data[key], rest, (*at, key))


def _text(data: JSON, path: Path) -> str:
    for key in path:
        if not isinstance(data, dict):
            return ""
        data = data.get(key)
    return "" if data is None else str(data)


def _error(code: str, message: str) -> JSON:
    return {"_errors": [{"code": code, "message": message}]}


def _put(errors: JSON, path: Path, error: JSON) -> None:
    for key in path:
        errors = errors.setdefault(key, {})
    errors.setdefault("_errors", []).extend(error["_errors"])
