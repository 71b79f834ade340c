"""What Discord's users do, as a test asks: commands, autocomplete, buttons, modals and context
menus, sent as the interactions Discord would send, checked against the synced commands."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from tests.fakes.discord.limits import COMPONENT_LIMITS
from tests.fakes.discord.protocol import (
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    BUTTON,
    CHAT_INPUT,
    CHECKBOX,
    DEFAULT_PERMISSIONS,
    DEFAULT_UPLOAD_LIMIT,
    JSON,
    MESSAGE_COMMAND,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    NESTED_COMPONENT_KEYS,
    SEND_MESSAGES,
    STRING_SELECT,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    SUBCOMMAND_TYPES,
    TEXT_INPUT,
)
from tests.fakes.discord.records import FakeInteraction, FakeMessage


class UserActions:
    """FakeDiscord's test-facing actions (its state is set up in `FakeDiscord.__init__`)."""

    def make_user(self, user_id: int, name: str) -> JSON:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": False,
            "system": False,
            "public_flags": 0,
        }

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = "image/png",
        width: int | None = None,
        height: int | None = None,
    ) -> JSON:
        """Store a user's upload on the CDN; returns its attachment object for `invoke`."""
        # Files given to slash-command options live under ephemeral-attachments on Discord.
        attachment = self._store_file(
            f"ephemeral-attachments/{self.APP_ID}", filename, data, content_type
        )
        attachment["ephemeral"] = True
        if width is not None:
            attachment["width"] = width
        if height is not None:
            attachment["height"] = height
        return attachment

    def add_user_message(
        self, content: str, attachments: Iterable[JSON] = (), *, user: JSON | None = None
    ) -> JSON:
        """Post a message as a user in the guild channel; returns it as Discord shows it.

        `attachments` come from `add_attachment`; posted in a message they become ordinary
        channel attachments (same id and bytes). Usable as `invoke_message_command`'s target.
        """
        message = FakeMessage(
            id=self._ids.next(),
            channel_id=self.CHANNEL_ID,
            kind="user",
            content=content,
            author=user or self.make_user(self.DEFAULT_USER_ID, "tester"),
        )
        for given in attachments:
            stored = self._files[int(given["id"])]
            attachment = {key: value for key, value in given.items() if key != "ephemeral"}
            folder = f"attachments/{self.CHANNEL_ID}"
            urls = self._cdn_urls(folder, int(given["id"]), stored.filename)
            attachment["url"], attachment["proxy_url"] = urls
            message.files.append((stored.filename, stored.data, stored.content_type))
            message.attachments.append(attachment)
        self.user_messages.append(message)
        return self._message_payload(message)

    async def invoke(
        self,
        command: str,
        options: Sequence[JSON] = (),
        *,
        subcommand: str | None = None,
        group: str | None = None,
        user: JSON | None = None,
        attachments: Iterable[JSON] = (),
        guild: bool = True,
        permissions: int = DEFAULT_PERMISSIONS,
        app_permissions: int | None = None,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send an INTERACTION_CREATE for the synced chat-input command `command`.

        `options` are the command's own, or with `subcommand` (and `group`) the subcommand's:
        they are nested in type 1 / type 2 options as Discord does.
        """
        scope, registered = self._synced_command(command, guild, CHAT_INPUT)
        nested = _nest_options(list(options), subcommand, group)
        _check_options(command, registered.get("options") or [], nested)
        data = self._command_data(registered, scope, nested, attachments)
        return await self._inject(
            APPLICATION_COMMAND,
            _qualified_name(command, group, subcommand),
            data,
            user=user,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def autocomplete(
        self,
        command: str,
        options: Sequence[JSON],
        *,
        focused: str,
        subcommand: str | None = None,
        group: str | None = None,
        user: JSON | None = None,
        guild: bool = True,
        permissions: int = DEFAULT_PERMISSIONS,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Send the type 4 interaction Discord sends while a user types into option `focused`.

        `options` are what the user has filled in so far (required ones may be missing), with
        the partial text of `focused` as its value. The answer is in `FakeInteraction.choices`.
        """
        scope, registered = self._synced_command(command, guild, CHAT_INPUT)
        leaf = _leaf_schema(command, registered, group, subcommand)
        declared = next((option for option in leaf if option["name"] == focused), None)
        if declared is None or not declared.get("autocomplete"):
            raise ValueError(
                f"/{_qualified_name(command, group, subcommand)} has no autocomplete option "
                f"{focused!r}: Discord only asks for options declared with autocomplete"
            )
        if focused not in {option["name"] for option in options}:
            raise ValueError(f"the focused option {focused!r} must be among the options sent")
        marked = [
            option | {"focused": True} if option["name"] == focused else option
            for option in options
        ]
        nested = _nest_options(marked, subcommand, group)
        _check_options(command, registered.get("options") or [], nested, partial=True)
        data = self._command_data(registered, scope, nested, ())
        name = _qualified_name(command, group, subcommand)
        return await self._inject(
            APPLICATION_COMMAND_AUTOCOMPLETE,
            name,
            data,
            summary=f"autocomplete /{name} [{focused}]",
            user=user,
            guild=guild,
            permissions=permissions,
            locale=locale,
        )

    async def press(
        self,
        message: FakeMessage,
        custom_id: str,
        *,
        user: JSON | None = None,
        permissions: int = DEFAULT_PERMISSIONS,
        app_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Click the button `custom_id` on `message`: a type 3 (MESSAGE_COMPONENT) interaction.

        The user defaults to the one the message answered, else the default tester. Only an
        existing, enabled button that the user can see can be pressed.
        """
        _, user, guild = self._component_user(message, custom_id, BUTTON, "button", user)
        return await self._inject(
            MESSAGE_COMPONENT,
            custom_id,
            {"custom_id": custom_id, "component_type": BUTTON},
            summary=f"button {custom_id!r} on message {message.id}",
            message=message,
            user=user,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
        )

    async def select(
        self,
        message: FakeMessage,
        custom_id: str,
        values: str | Sequence[str],
        *,
        user: JSON | None = None,
        permissions: int = DEFAULT_PERMISSIONS,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Pick `values` in the string select `custom_id` on `message`: a type 3 interaction
        carrying `data.values`, as Discord sends it. Only offered options can be picked."""
        menu, user, guild = self._component_user(message, custom_id, STRING_SELECT, "select", user)
        chosen = _select_values(menu, values)
        return await self._inject(
            MESSAGE_COMPONENT,
            custom_id,
            {"custom_id": custom_id, "component_type": STRING_SELECT, "values": chosen},
            summary=f"select {custom_id!r} = {chosen} on message {message.id}",
            message=message,
            user=user,
            guild=guild,
            permissions=permissions,
            locale=locale,
        )

    def _component_user(
        self, message: FakeMessage, custom_id: str, kind: int, noun: str, user: JSON | None
    ) -> tuple[JSON, JSON, bool]:
        """The enabled component `custom_id` of type `kind` on `message`, who uses it (the user
        the message answered, unless told), and whether it is in the guild; ValueError when the
        user could not use it."""
        if message.deleted:
            raise ValueError(f"{message!r} was deleted: its {noun}s cannot be used")
        found = [c for c in _walk_components(message.components) if c.get("type") == kind]
        component = next((c for c in found if c.get("custom_id") == custom_id), None)
        if component is None:
            known = [c.get("custom_id") or c.get("url") for c in found]
            raise ValueError(f"{message!r} has no {noun} {custom_id!r}; its {noun}s: {known}")
        if component.get("disabled"):
            raise ValueError(f"the {noun} {custom_id!r} on {message!r} is disabled")
        owner = None
        if message.interaction_id is not None:
            owner = self.interactions[message.interaction_id].user
        user = user or owner or self.make_user(self.DEFAULT_USER_ID, "tester")
        if message.ephemeral and owner is not None and owner["id"] != user["id"]:
            raise ValueError(f"{message!r} is ephemeral: only {owner['username']} sees it")
        return component, user, self._check_visible(message.channel_id, user)

    async def submit_modal(
        self,
        opened_by: FakeInteraction,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: JSON | None = None,
    ) -> FakeInteraction:
        """Fill in and submit the modal the bot opened (callback 9) on `opened_by`.

        `values` maps text inputs' custom_ids to text (string selects: to a list of option
        values). Inputs left out keep their pre-filled value, as the user would see them. The
        submission mirrors the modal's layout: action rows (type 1) or labels (type 18).
        """
        modal = opened_by.modal
        if modal is None:
            raise ValueError(f"the bot opened no modal on\n{opened_by.describe()}")
        if any(submit.callbacks for submit in opened_by.modal_submits):
            # Answered submits close the modal; unanswered ones leave it open with an error.
            raise ValueError(f"the modal {modal['custom_id']!r} was already submitted")
        user = user or opened_by.user
        if user["id"] != opened_by.user["id"]:
            raise ValueError("only the user the modal was opened for can submit it")
        data = {
            "custom_id": modal["custom_id"],
            "components": _modal_submission(modal, values),
        }
        # A modal opened by a button press comes back with that button's message.
        message = opened_by.message if opened_by.type == MESSAGE_COMPONENT else None
        guild = "guild_id" in opened_by.payload
        member = opened_by.payload.get("member") or {}
        submit = await self._inject(
            MODAL_SUBMIT,
            modal["custom_id"],
            data,
            summary=f"modal {modal['custom_id']!r} submitted",
            message=message,
            opened_by=opened_by,
            user=user,
            guild=guild,
            permissions=int(member.get("permissions", DEFAULT_PERMISSIONS)),
            app_permissions=int(opened_by.payload["app_permissions"]),
            attachment_size_limit=opened_by.attachment_size_limit,
            locale=opened_by.payload.get("locale", "en-US"),
        )
        opened_by.modal_submits.append(submit)
        return submit

    async def invoke_message_command(
        self,
        name: str,
        target: FakeMessage | JSON,
        *,
        user: JSON | None = None,
        permissions: int = DEFAULT_PERMISSIONS,
        app_permissions: int | None = None,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Run the message context menu command `name` (Apps > name) on `target`."""
        if isinstance(target, FakeMessage):
            known: FakeMessage | None = target
        else:
            known = self._find_message(int(target["id"]))
        if known is not None and known.deleted:
            raise ValueError(f"{known!r} was deleted: it has no context menu")
        if known is not None:
            # The fake's own record wins: it is the message as Discord has it now.
            payload = self._message_payload(known)
        else:
            assert isinstance(target, dict)
            payload = dict(target)
        user = user or self.make_user(self.DEFAULT_USER_ID, "tester")
        guild = self._check_visible(int(payload["channel_id"]), user)
        scope, registered = self._synced_command(name, guild, MESSAGE_COMMAND)
        data: JSON = {
            "id": registered["id"],
            "name": registered["name"],
            "type": MESSAGE_COMMAND,
            "target_id": payload["id"],
            "resolved": {"messages": {payload["id"]: payload}},
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._inject(
            APPLICATION_COMMAND,
            name,
            data,
            summary=f"message command {name!r} on message {payload['id']}",
            user=user,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def _inject(
        self,
        interaction_type: int,
        command: str,
        data: JSON,
        *,
        user: JSON | None,
        guild: bool,
        permissions: int,
        summary: str = "",
        app_permissions: int | None = None,
        attachment_size_limit: int = DEFAULT_UPLOAD_LIMIT,
        locale: str = "en-US",
        message: FakeMessage | None = None,
        opened_by: FakeInteraction | None = None,
    ) -> FakeInteraction:
        """Create the interaction, send its INTERACTION_CREATE to every live session."""
        if guild and self.channel_deleted:
            raise ValueError("the channel is deleted: no one can interact in it")
        user = user or self.make_user(self.DEFAULT_USER_ID, "tester")
        interaction = FakeInteraction(
            interaction_id=self._ids.next(),
            token=secrets.token_urlsafe(48),
            user=user,
            command=command,
            channel_id=self.CHANNEL_ID if guild else self._dm_channel_id(user),
            attachment_size_limit=attachment_size_limit,
            changes=self._changes,
            interaction_type=interaction_type,
            summary=summary,
            message=message,
            opened_by=opened_by,
        )
        if app_permissions is None:
            app_permissions = DEFAULT_PERMISSIONS
            if guild and self.channel_forbidden:
                app_permissions &= ~SEND_MESSAGES
        interaction.payload = self._interaction_payload(
            interaction,
            data,
            guild=guild,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
        )
        await self.wait_identified()
        self.interactions[interaction.id] = interaction
        self._by_token[interaction.token] = interaction
        interaction.sent_at = time.monotonic()
        await self._dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    def _check_visible(self, channel_id: int, user: JSON) -> bool:
        """Whether `channel_id` is the guild channel; a DM must be `user`'s own."""
        if channel_id == self.CHANNEL_ID:
            return True
        if self._dm_channels.get(int(user["id"])) != channel_id:
            raise ValueError(f"{user['username']} cannot see channel {channel_id}")
        return False


def _check_options(
    command: str, schema: Sequence[JSON], given: Sequence[JSON], *, partial: bool = False
) -> None:
    """Discord only sends options that match the synced schema; so must the tests.

    `partial`: what an autocomplete sends, before the user has filled in required options.
    """
    known = {option["name"]: option for option in schema}
    subcommands = [o["name"] for o in schema if o["type"] in SUBCOMMAND_TYPES]
    if subcommands and (len(given) != 1 or given[0]["type"] not in SUBCOMMAND_TYPES):
        # A command with subcommands cannot itself be run: the user always picks one.
        raise ValueError(f"/{command} needs exactly one of its subcommands {subcommands}")
    for option in given:
        expected = known.get(option["name"])
        if expected is None:
            raise ValueError(f"/{command} has no option {option['name']!r}; it has {list(known)}")
        if expected["type"] != option["type"]:
            raise ValueError(
                f"/{command} option {option['name']!r} has type {expected['type']}, "
                f"not {option['type']}"
            )
        if option["type"] in SUBCOMMAND_TYPES:
            nested = f"{command} {option['name']}"
            inner = option.get("options") or []
            _check_options(nested, expected.get("options") or [], inner, partial=partial)
        elif not partial:
            _check_range(command, expected, option["value"])
    if partial:
        return
    names = {option["name"] for option in given}
    missing = [o["name"] for o in schema if o.get("required") and o["name"] not in names]
    if missing:
        raise ValueError(f"/{command} needs the options {missing}")


def _check_range(command: str, expected: JSON, value: Any) -> None:
    """Discord's client sends no number outside the option's min_value/max_value, and no text
    outside its min_length/max_length."""
    if isinstance(value, str) and expected["type"] == 3:
        measured, low, high = len(value), expected.get("min_length"), expected.get("max_length")
    elif isinstance(value, int | float) and expected["type"] in (4, 10):
        measured, low, high = value, expected.get("min_value"), expected.get("max_value")
    else:
        return
    if (low is not None and measured < low) or (high is not None and measured > high):
        raise ValueError(
            f"/{command} option {expected['name']!r} takes {low}–{high}"
            f"{' characters' if isinstance(value, str) else ''}: Discord does not send {value!r}"
        )


def _qualified_name(command: str, group: str | None, subcommand: str | None) -> str:
    return " ".join(part for part in (command, group, subcommand) if part)


def _nest_options(options: list[JSON], subcommand: str | None, group: str | None) -> list[JSON]:
    """Wrap a subcommand's options in its type 1 option, and that in its group's type 2."""
    if group is not None and subcommand is None:
        raise ValueError(f"the subcommand group {group!r} needs a subcommand")
    if subcommand is None:
        return options
    # Discord sends "options" on a subcommand even when it is empty.
    nested = [{"name": subcommand, "type": SUB_COMMAND, "options": options}]
    if group is not None:
        nested = [{"name": group, "type": SUB_COMMAND_GROUP, "options": nested}]
    return nested


def _leaf_schema(
    command: str, registered: JSON, group: str | None, subcommand: str | None
) -> list[JSON]:
    """The synced options of the (sub)command that `group` and `subcommand` name."""
    options: list[JSON] = registered.get("options") or []
    path = command
    for name in (group, subcommand):
        if name is None:
            continue
        found = next(
            (o for o in options if o["name"] == name and o["type"] in SUBCOMMAND_TYPES), None
        )
        if found is None:
            raise ValueError(f"/{path} has no subcommand or group {name!r}")
        options = found.get("options") or []
        path = f"{path} {name}"
    return options


def _walk_components(components: Iterable[JSON]) -> Iterator[JSON]:
    """Every component in a message or modal tree, depth first, in display order."""
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in NESTED_COMPONENT_KEYS:
            child = component.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


def _modal_submission(modal: JSON, values: Mapping[str, str | Sequence[str]]) -> list[JSON]:
    """The components of a MODAL_SUBMIT for `modal` filled in with `values`.

    Discord sends back every component of the modal in its declared layout (rows with
    ``components``, labels with ``component``), each with its numeric ``id``: declared ones
    kept, the others numbered in order.
    """
    tree = list(_walk_components(modal["components"]))
    unknown = sorted(set(values) - {c["custom_id"] for c in tree if "custom_id" in c})
    if unknown:
        raise ValueError(f"the modal {modal['custom_id']!r} has no inputs {unknown}")
    declared = {c["id"] for c in tree if "id" in c}
    free_ids = (n for n in itertools.count(1) if n not in declared)

    def submitted(component: JSON) -> JSON:
        kind = component["type"]
        entry: JSON = {"type": kind, "id": component.get("id") or next(free_ids)}
        if "components" in component:
            entry["components"] = [submitted(child) for child in component["components"]]
        if "component" in component:
            entry["component"] = submitted(component["component"])
        custom_id = component.get("custom_id")
        if custom_id is None:
            return entry  # layout and text: nothing to fill in
        entry["custom_id"] = custom_id
        given = values.get(custom_id)
        if kind == TEXT_INPUT:
            entry["value"] = _text_input_value(component, given)
        elif kind == STRING_SELECT:
            entry["values"] = _select_values(component, given)
        elif given is not None:
            raise ValueError(f"the fake fills only text inputs and string selects, not {kind}")
        elif kind != CHECKBOX and component.get("required", True):
            raise ValueError(f"the modal's required component {custom_id!r} cannot be filled")
        else:
            entry |= {"value": False} if kind == CHECKBOX else {"values": []}
        return entry

    return [submitted(component) for component in modal["components"]]


def _text_input_value(component: JSON, given: str | Sequence[str] | None) -> str:
    """What the user submits: `given`, or the pre-filled value; the client enforces limits."""
    custom_id = component["custom_id"]
    if given is not None and not isinstance(given, str):
        raise ValueError(f"the text input {custom_id!r} takes a str, not {given!r}")
    value = (component.get("value") or "") if given is None else given
    if not value:
        if component.get("required", True):
            raise ValueError(f"the text input {custom_id!r} is required")
        return value
    low = component.get("min_length") or 0
    high = component.get("max_length") or COMPONENT_LIMITS[TEXT_INPUT][("value",)].most
    if not low <= len(value) <= high:
        raise ValueError(f"the text input {custom_id!r} takes {low}-{high} characters")
    return value


def _select_values(component: JSON, given: str | Sequence[str] | None) -> list[str]:
    custom_id = component["custom_id"]
    options = [option["value"] for option in component.get("options") or []]
    if given is None:
        chosen = [o["value"] for o in component.get("options") or [] if o.get("default")]
    else:
        chosen = [given] if isinstance(given, str) else list(given)
    unknown = [value for value in chosen if value not in options]
    if unknown:
        raise ValueError(f"the select {custom_id!r} has no options {unknown}; it has {options}")
    if not chosen and not component.get("required", True):
        return chosen
    low, high = component.get("min_values", 1), component.get("max_values", 1)
    if not low <= len(chosen) <= high:
        raise ValueError(f"the select {custom_id!r} takes {low}-{high} values, not {chosen}")
    return chosen
