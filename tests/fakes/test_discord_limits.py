"""The fake Discord refuses what Discord refuses: every size limit, just over it and at it.

First each entry of the limits tables (tests/fakes/discord/limits.py) is tried on a payload that is
valid otherwise; then every route the bot sends through is tried over HTTP, with a bare
gateway session and REST client instead of discord.py, so that the exact payload is sent.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.discord.limits import (
    CHAT_INPUT_DESCRIPTION,
    CHOICE_LIMITS,
    COMMAND_LIMITS,
    COMPONENT_LIMITS,
    INVALID_FORM_BODY,
    JSON,
    MAX_COMMAND_TOTAL,
    MAX_EMBED_TOTAL,
    MESSAGE_LIMITS,
    MODAL_LIMITS,
    OPTION_LIMITS,
    Length,
    Limit,
    Path,
    Value,
    choices_errors,
    commands_errors,
    message_errors,
    modal_errors,
)

# Refusals are the point here; elsewhere a refused body fails the test (see conftest.py).
pytestmark = pytest.mark.invalid_bodies_expected

LINK = "https://example.com/"
MESSAGE: JSON = {
    "content": "hello",
    "nonce": "n",
    "embeds": [
        {
            "title": "t",
            "description": "d",
            "url": LINK,
            "color": 1,
            "author": {"name": "a", "url": LINK, "icon_url": LINK},
            "footer": {"text": "f", "icon_url": LINK},
            "image": {"url": "attachment://image.png"},
            "thumbnail": {"url": "attachment://thumbnail.png"},
            "fields": [{"name": "n", "value": "v"}],
        }
    ],
    "allowed_mentions": {"parse": [], "users": ["1"], "roles": ["2"]},
    "sticker_ids": ["3"],
    "attachments": [{"id": "0", "filename": "a.txt", "description": "d", "title": "t"}],
    "components": [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 1, "custom_id": "b", "label": "B"},
                {"type": 2, "style": 5, "label": "L", "url": LINK},
            ],
        },
        {
            "type": 1,
            "components": [
                {
                    "type": 3,
                    "custom_id": "s",
                    "placeholder": "p",
                    "min_values": 1,
                    "max_values": 1,
                    "options": [{"label": "l", "value": "v", "description": "d"}],
                }
            ],
        },
        *(
            {
                "type": 1,
                "components": [
                    {
                        "type": kind,
                        "custom_id": f"select-{kind}",
                        "placeholder": "p",
                        "min_values": 1,
                        "max_values": 1,
                        "default_values": [{"id": "1", "type": "user"}],
                    }
                ],
            }
            for kind in (5, 6, 7)
        ),
    ],
}
MODAL: JSON = {
    "custom_id": "m",
    "title": "T",
    "components": [
        {
            "type": 1,
            "components": [
                {
                    "type": 4,
                    "custom_id": "i",
                    "style": 1,
                    "label": "L",
                    "value": "v",
                    "placeholder": "p",
                    "min_length": 0,
                    "max_length": 10,
                }
            ],
        },
        {
            "type": 18,
            "label": "L",
            "description": "d",
            "component": {
                "type": 8,
                "custom_id": "c",
                "placeholder": "p",
                "min_values": 1,
                "max_values": 1,
                "default_values": [{"id": "1", "type": "channel"}],
            },
        },
        {"type": 10, "content": "c"},
    ],
}
CHOICES: JSON = {"choices": [{"name": "n", "value": "v"}]}
CHAT_COMMAND: JSON = {
    "type": 1,
    "name": "probe",
    "description": "d",
    "options": [
        {
            "type": 1,
            "name": "sub",
            "description": "d",
            "options": [
                {
                    "type": 3,
                    "name": "o",
                    "description": "d",
                    "choices": [{"name": "n", "value": "v"}],
                    "min_length": 0,
                    "max_length": 10,
                }
            ],
        }
    ],
}
MENU_COMMAND: JSON = {"type": 3, "name": "Menu", "description": ""}

Check = Callable[[Any], JSON]
# (what is checked, the payload, where in it the limit's path starts, the path, the limit)
Case = tuple[Check, Any, tuple[Any, ...], Path, Limit]


def _components(data: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], JSON]]:
    """Every component in a payload, with the keys and indices that lead to it."""
    if isinstance(data, dict):
        if "type" in data and at:
            yield at, data
        for key in ("components", "component"):
            if key in data:
                yield from _components(data[key], (*at, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _components(item, (*at, index))


def _component_case(kind: int, path: Path, limit: Limit) -> Case:
    for check, sample in ((message_errors, MESSAGE), (modal_errors, MODAL)):
        for at, component in _components(sample):
            if component["type"] == kind and path[0] in component:
                return check, sample, at, path, limit
    raise AssertionError(f"no sample component of type {kind} has {path[0]!r}: add one")


def _option_case(path: Path, limit: Limit) -> Case:
    subcommand = ("options", 0)
    leaf = (*subcommand, "options", 0)
    at = subcommand if path[0] == "options" else leaf
    return commands_errors, [CHAT_COMMAND], (0, *at), path, limit


def _cases() -> Iterator[Any]:
    def case(name: str, *found: Any) -> Any:
        return pytest.param(*found, id=f"{name}:{'.'.join(found[3])}")

    for path, limit in MESSAGE_LIMITS.items():
        yield case("message", message_errors, MESSAGE, (), path, limit)
    for kind, limits in COMPONENT_LIMITS.items():
        for path, limit in limits.items():
            yield case(f"component {kind}", *_component_case(kind, path, limit))
    for path, limit in MODAL_LIMITS.items():
        yield case("modal", modal_errors, MODAL, (), path, limit)
    for path, limit in CHOICE_LIMITS.items():
        yield case("autocomplete", choices_errors, CHOICES, (), path, limit)
    chat_limits = {**COMMAND_LIMITS, ("description",): CHAT_INPUT_DESCRIPTION}
    for path, limit in chat_limits.items():
        yield case("slash command", commands_errors, [CHAT_COMMAND], (0,), path, limit)
    description = COMMAND_LIMITS[("description",)]
    menus = [CHAT_COMMAND, MENU_COMMAND]
    yield case("menu command", commands_errors, menus, (1,), ("description",), description)
    for path, limit in OPTION_LIMITS.items():
        yield case("option", *_option_case(path, limit))


def _with(sample: Any, where: tuple[Any, ...], limit: Limit, size: int) -> Any:
    """`sample` with the value at `where` made `size` long (or, for a Value, equal to it)."""
    payload = copy.deepcopy(sample)
    *parents, last = [0 if key == "*" else key for key in where]
    node = payload
    for key in parents:
        node = node[key]
    if isinstance(limit, Value):
        node[last] = size
    elif isinstance(node[last], list):
        node[last] = [copy.deepcopy(node[last][0]) for _ in range(size)]
    else:
        node[last] = "x" * size
    return payload


def _error_at(errors: JSON, where: tuple[Any, ...]) -> list[JSON]:
    for key in where:
        errors = errors.get("0" if key == "*" else str(key), {})
    return errors.get("_errors", [])


@pytest.mark.parametrize(("check", "sample", "at", "path", "limit"), list(_cases()))
def test_each_limit_is_refused_just_over_and_accepted_at_it(
    check: Check, sample: Any, at: tuple[Any, ...], path: Path, limit: Limit
) -> None:
    assert check(sample) == {}, "the sample itself is valid"
    where = (*at, *path)
    assert check(_with(sample, where, limit, limit.most)) == {}
    assert _error_at(check(_with(sample, where, limit, limit.most + 1)), where)
    if limit.least > 0 or isinstance(limit, Value):
        assert check(_with(sample, where, limit, limit.least)) == {}
        assert _error_at(check(_with(sample, where, limit, limit.least - 1)), where)


def test_all_embeds_of_a_message_share_one_size_limit() -> None:
    def message(extra: int) -> JSON:
        # Ten embeds of 600 characters each (a title, a description and a field).
        embeds = [
            {
                "title": "t" * 100,
                "description": "d" * 300,
                "fields": [{"name": "n" * 100, "value": "v" * 100}],
            }
            for _ in range(10)
        ]
        embeds[0]["description"] += "d" * extra
        return {"embeds": embeds}

    assert message_errors(message(0)) == {}
    errors = message_errors(message(1))
    assert errors["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"
    assert MAX_EMBED_TOTAL == 6000


def test_a_components_v2_message_may_have_forty_top_level_components() -> None:
    rows = [copy.deepcopy(MESSAGE["components"][0]) for _ in range(40)]
    assert message_errors({"components": rows, "flags": 1 << 15}) == {}
    assert _error_at(message_errors({"components": rows}), ("components",))
    too_many = {"components": [*rows, rows[0]], "flags": 1 << 15}
    assert _error_at(message_errors(too_many), ("components",))


def test_an_integer_nonce_is_not_a_string() -> None:
    assert message_errors({"content": "x", "nonce": 2**62}) == {}


def test_a_command_with_its_options_and_choices_is_at_most_8000_characters() -> None:
    def command(description: str) -> JSON:
        # 3 + len(description), plus three options of 2 + 100 + 25 × (50 + 50) = 2602 each,
        # plus one of 2 + 100 + 88 = 190.
        choices = [{"name": "n" * 50, "value": "v" * 50} for _ in range(25)]
        options = [
            {"type": 3, "name": f"o{n}", "description": "x" * 100, "choices": choices}
            for n in range(3)
        ]
        options.append(
            {
                "type": 3,
                "name": "o3",
                "description": "x" * 100,
                "choices": [{"name": "n" * 88, "value": ""}],
            }
        )
        return {"type": 1, "name": "big", "description": description, "options": options}

    assert MAX_COMMAND_TOTAL == 3 + 1 + 3 * 2602 + 190
    assert commands_errors([command("d")]) == {}
    errors = commands_errors([command("dd")])
    assert errors["0"]["_errors"][0]["code"] == "APPLICATION_COMMAND_TOO_LARGE"


# -- over HTTP, on every route ---------------------------------------------------------------

PROBE = {
    "type": 1,
    "name": "probe",
    "description": "Probe the fake",
    "options": [{"type": 3, "name": "q", "description": "Query", "autocomplete": True}],
}
BUTTON_ROW = {"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "b", "label": "B"}]}


class BareApp:
    """A gateway session and a REST client that send exactly what a test gives them."""

    def __init__(self, fake: FakeDiscord, session: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.session = session

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"{self.fake.base_url}/api/v10{path}"
        async with self.session.request(method, url, json=body) as response:
            if response.content_type != "application/json":
                return response.status, None
            return response.status, await response.json()

    async def callback(
        self, interaction: FakeInteraction, kind: int, data: JSON
    ) -> tuple[int, Any]:
        path = f"/interactions/{interaction.id}/{interaction.token}/callback"
        return await self.call("POST", path, {"type": kind, "data": data})

    async def command(self) -> FakeInteraction:
        return await self.fake.invoke("probe")


@pytest.fixture
async def app(discord_api: FakeDiscord) -> AsyncIterator[BareApp]:
    async with aiohttp.ClientSession() as session:
        gateway = await session.ws_connect(discord_api.gateway_url)
        await gateway.receive()  # HELLO
        await gateway.send_json({"op": 2, "d": {"token": "t", "intents": 0, "properties": {}}})
        await discord_api.wait_identified()
        bare = BareApp(discord_api, session)
        commands = f"/applications/{FakeDiscord.APP_ID}/guilds/{FakeDiscord.GUILD_ID}/commands"
        status, _ = await bare.call("PUT", commands, [PROBE])
        assert status == 200
        yield bare
        await gateway.close()


Send = Callable[[BareApp, JSON], Awaitable[tuple[int, Any]]]
CHANNEL = f"/channels/{FakeDiscord.CHANNEL_ID}/messages"


async def channel_post(app: BareApp, body: JSON) -> tuple[int, Any]:
    return await app.call("POST", CHANNEL, body)


async def channel_edit(app: BareApp, body: JSON) -> tuple[int, Any]:
    _, message = await app.call("POST", CHANNEL, {"content": "first"})
    return await app.call("PATCH", f"{CHANNEL}/{message['id']}", body)


async def direct_message(app: BareApp, body: JSON) -> tuple[int, Any]:
    _, dm = await app.call("POST", "/users/@me/channels", {"recipient_id": "42"})
    return await app.call("POST", f"/channels/{dm['id']}/messages", body)


async def reply(app: BareApp, body: JSON) -> tuple[int, Any]:
    return await app.callback(await app.command(), 4, body)


async def update(app: BareApp, body: JSON) -> tuple[int, Any]:
    interaction = await app.command()
    await app.callback(interaction, 4, {"content": "press", "components": [BUTTON_ROW]})
    assert interaction.original is not None
    pressed = await app.fake.press(interaction.original, "b")
    return await app.callback(pressed, 7, body)


async def followup(app: BareApp, body: JSON) -> tuple[int, Any]:
    interaction = await app.command()
    await app.callback(interaction, 5, {})
    path = f"/webhooks/{FakeDiscord.APP_ID}/{interaction.token}?wait=true"
    return await app.call("POST", path, body)


async def edit_original(app: BareApp, body: JSON) -> tuple[int, Any]:
    interaction = await app.command()
    await app.callback(interaction, 4, {"content": "first"})
    path = f"/webhooks/{FakeDiscord.APP_ID}/{interaction.token}/messages/@original"
    return await app.call("PATCH", path, body)


ROUTES: dict[str, tuple[Send, Path]] = {
    "channel message": (channel_post, ()),
    "channel message edit": (channel_edit, ()),
    "direct message": (direct_message, ()),
    "interaction reply (callback 4)": (reply, ("data",)),
    "message update (callback 7)": (update, ("data",)),
    "followup": (followup, ()),
    "webhook message edit": (edit_original, ()),
}


def _labelled(size: int) -> JSON:
    return _with(BUTTON_ROW, ("components", 0, "label"), Length(0, 80), size)


# (a message at the limits, the same just over one, where the error is reported)
OVERSIZED: dict[str, tuple[JSON, JSON, Path]] = {
    "content": ({"content": "x" * 2000}, {"content": "x" * 2001}, ("content",)),
    "field value": (
        {"embeds": [{"fields": [{"name": "n", "value": "v" * 1024}]}]},
        {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
        ("embeds", "0", "fields", "0", "value"),
    ),
    "action rows": (
        {"content": "x", "components": [BUTTON_ROW] * 5},
        {"content": "x", "components": [BUTTON_ROW] * 6},
        ("components",),
    ),
    "button label": (
        {"content": "x", "components": [_labelled(80)]},
        {"content": "x", "components": [_labelled(81)]},
        ("components", "0", "components", "0", "label"),
    ),
}


def _refused(answer: tuple[int, Any], where: Path) -> None:
    status, body = answer
    assert status == 400, body
    assert body["code"] == INVALID_FORM_BODY
    assert body["message"] == "Invalid Form Body"
    assert _error_at(body["errors"], where), body


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("oversized", list(OVERSIZED))
async def test_every_message_route_refuses_an_oversized_message(
    app: BareApp, route: str, oversized: str
) -> None:
    send, prefix = ROUTES[route]
    at_limit, over, where = OVERSIZED[oversized]
    status, body = await send(app, at_limit)
    assert status in (200, 204), body
    _refused(await send(app, over), (*prefix, *where))


async def test_autocomplete_answers_have_at_most_25_choices(app: BareApp) -> None:
    options = [{"name": "q", "type": 3, "value": ""}]
    for count, accepted in ((25, True), (26, False)):
        typing = await app.fake.autocomplete("probe", options, focused="q")
        choices = [{"name": f"c{n}", "value": f"c{n}"} for n in range(count)]
        answer = await app.callback(typing, 8, {"choices": choices})
        if accepted:
            assert answer[0] == 204, answer
        else:
            _refused(answer, ("data", "choices"))


async def test_a_modal_title_is_at_most_45_characters(app: BareApp) -> None:
    for size, accepted in ((45, True), (46, False)):
        modal = _with(MODAL, ("title",), Length(1, 45), size)
        answer = await app.callback(await app.command(), 9, modal)
        if accepted:
            assert answer[0] == 204, answer
        else:
            _refused(answer, ("data", "title"))


async def test_command_sync_refuses_an_over_long_description(app: BareApp) -> None:
    path = f"/applications/{FakeDiscord.APP_ID}/commands"
    for size, accepted in ((100, True), (101, False)):
        command = _with(PROBE, ("options", 0, "description"), Length(1, 100), size)
        answer = await app.call("PUT", path, [command])
        if accepted:
            assert answer[0] == 200, answer
        else:
            _refused(answer, ("0", "options", "0", "description"))
