"""The fake's REST routes for the bot user: identity, gateway address, command sync, channel
messages and DMs; and how a request body is read and checked as Discord checks it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import BodyPartReader, hdrs, web

from tests.fakes.discord.limits import INVALID_FORM_BODY, commands_errors, message_errors
from tests.fakes.discord.protocol import (
    APPLICATION_FLAGS,
    CHAT_INPUT,
    EPHEMERAL,
    JSON,
    NONCE_WINDOW_SECONDS,
    _ApiError,
    _json,
    _Upload,
)
from tests.fakes.discord.records import FakeMessage


class RestRoutes:
    """FakeDiscord's bot-token routes (its state is set up in `FakeDiscord.__init__`)."""

    async def _get_current_user(self, request: web.Request) -> web.Response:
        return _json(self._bot_user())

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(self.APP_ID),
                "name": self.BOT_NAME,
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "owner": self.make_user(self.OWNER_ID, "owner"),
                "team": self._team(),
                "verify_key": "0" * 64,
                "flags": APPLICATION_FLAGS,
                # Non-null would tell discord.py that interactions go to an HTTP endpoint.
                "interactions_endpoint_url": None,
                "bot": self._bot_user(),
                "tags": [],
                "redirect_uris": [],
            }
        )

    def _team(self) -> dict[str, Any] | None:
        if not self.team_members:
            return None
        members = {self.OWNER_ID: "admin", **self.team_members}
        return {
            "id": str(self.APP_ID + 1),
            "name": "Fake team",
            "icon": None,
            "owner_user_id": str(self.OWNER_ID),
            "members": [
                {
                    "user": self.make_user(member, f"member{member}"),
                    "team_id": str(self.APP_ID + 1),
                    "membership_state": 2,
                    "permissions": ["*"],
                    "role": role,
                }
                for member, role in members.items()
            ],
        }

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _command_scope(self, request: web.Request) -> int | None:
        if int(request.match_info["app"]) != self.APP_ID:
            raise _ApiError(403, 50001, "Missing Access")
        guild = request.match_info.get("guild")
        if guild is None:
            return None
        if int(guild) != self.GUILD_ID or self.commands_scope_missing:
            raise _ApiError(403, 50001, "Missing Access")
        return self.GUILD_ID

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        # A bulk overwrite keeps the id of a command that keeps its name and type.
        known = {(c["name"], c["type"]): c["id"] for c in self._commands.get(scope, [])}
        version = str(self._ids.next())
        registered = []
        commands = await _read_json(request)
        _refuse(commands_errors(commands))
        for command in commands:
            key = (command["name"], command.get("type", CHAT_INPUT))
            entry: JSON = {
                "type": CHAT_INPUT,
                # Context menu commands are sent without one; Discord echoes an empty one, and
                # discord.py's AppCommand requires the key.
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                "integration_types": [0],
                **command,
                "id": known.get(key) or str(self._ids.next()),
                "application_id": str(self.APP_ID),
                "version": version,
            }
            if scope is not None:
                entry["guild_id"] = str(scope)
            registered.append(entry)
        self._commands[scope] = registered
        self.synced_commands = registered
        return _json(registered)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self._commands.get(self._command_scope(request), []))

    def _synced_command(self, name: str, guild: bool, kind: int) -> tuple[int | None, JSON]:
        # Guild commands exist only in their guild; global ones everywhere.
        scopes: list[int | None] = [self.GUILD_ID, None] if guild else [None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and command["type"] == kind:
                    return scope, command
        where = "to the guild or globally" if guild else "globally (needed in DMs)"
        what = f"/{name}" if kind == CHAT_INPUT else f"the type {kind} command {name!r}"
        raise ValueError(f"{what} was not synced {where}; {self.describe()}")

    async def _open_dm(self, request: web.Request) -> web.Response:
        """POST /users/@me/channels: the bot opens (or finds) its DM channel with a user."""
        payload = await request.json()
        user = self.make_user(int(payload["recipient_id"]), "recipient")
        return _json(self._dm_channel(self._dm_channel_id(user), user))

    def dm_messages(self, user_id: int) -> list[FakeMessage]:
        """What the bot sent to `user_id` in direct messages."""
        channel_id = self._dm_channels.get(user_id)
        return [m for m in self.channel_messages if m.channel_id == channel_id]

    def _channel_id(self, request: web.Request) -> int:
        channel_id = int(request.match_info["channel"])
        if channel_id == self.CHANNEL_ID:
            if self.channel_deleted:
                raise _ApiError(404, 10003, "Unknown Channel")
            if self.channel_forbidden:
                raise _ApiError(403, 50013, "Missing Permissions")
        elif channel_id not in self._dm_channels.values():
            raise _ApiError(404, 10003, "Unknown Channel")
        return channel_id

    def _channel_message(self, request: web.Request) -> FakeMessage:
        channel_id = self._channel_id(request)
        message_id = int(request.match_info["message"])
        for message in self.channel_messages:
            if (message.id, message.channel_id) == (message_id, channel_id) and not message.deleted:
                return message
        raise _ApiError(404, 10008, "Unknown Message")

    async def _create_channel_message(self, request: web.Request) -> web.Response:
        channel_id = self._channel_id(request)
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, self.channel_upload_limit)
        _check_message(payload, uploads, creating=True)
        nonce = payload.get("nonce")
        # Every channel post here comes from the one bot user, so (channel, nonce) identifies
        # "the same author's nonce" in Discord's dedupe rule.
        key = (channel_id, str(nonce))
        now = self.clock()
        if nonce is not None and payload.get("enforce_nonce"):
            earlier = self._nonces.get(key)
            if earlier is not None and now - earlier[0] <= NONCE_WINDOW_SECONDS:
                self.deduplicated_nonces += 1
                return _json(self._message_payload(earlier[1]) | {"nonce": nonce})
        # Only interaction responses can be ephemeral; Discord ignores the flag elsewhere.
        flags = (payload.get("flags") or 0) & ~EPHEMERAL
        message = self._new_message("channel", channel_id, payload, uploads, flags=flags)
        message.nonce = nonce
        if nonce is not None and payload.get("enforce_nonce"):
            self._nonces[key] = (now, message)
        self.channel_messages.append(message)
        # The nonce comes back in the answer to the post (and MESSAGE_CREATE), not later.
        answer = self._message_payload(message)
        if nonce is not None:
            answer["nonce"] = nonce
        return _json(answer)

    async def _edit_channel_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, self.channel_upload_limit)
        _check_message(payload, uploads, creating=False)
        self._edit_message(message, payload, uploads)
        return _json(self._message_payload(message))

    async def _delete_channel_message(self, request: web.Request) -> web.Response:
        channel_id = self._channel_id(request)
        message_id = int(request.match_info["message"])
        # An interaction's public response or followup is a message of its channel like any
        # other, which the bot may delete by the channel's route (an ephemeral one is not).
        for interaction in self.interactions.values():
            for message in (interaction.original, *interaction.followups):
                if message is None or message.deleted or message.ephemeral:
                    continue
                if (message.id, message.channel_id) == (message_id, channel_id):
                    message.deleted = True
                    if message is interaction.original:
                        interaction.original = None
                        interaction.original_deleted = True
                    return web.Response(status=204)
        self._channel_message(request).deleted = True
        return web.Response(status=204)


async def _read_json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise _ApiError(400, 50109, "The request body contains invalid JSON.") from None


async def _read_body(request: web.Request) -> tuple[JSON, list[_Upload]]:
    """The JSON payload and the uploaded files, from a JSON or a multipart/form-data body."""
    if request.content_type != "multipart/form-data":
        return (await _read_json(request) if request.can_read_body else {}), []
    payload: JSON = {}
    uploads: list[_Upload] = []
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == "payload_json":
            payload = json.loads(await part.text())
        elif part.name.startswith("files["):
            index = int(part.name.removeprefix("files[").removesuffix("]"))
            data = bytes(await part.read())
            content_type = part.headers.get(hdrs.CONTENT_TYPE)
            uploads.append(_Upload(index, part.filename or "", data, content_type))
    return payload, uploads


def _check_uploads(uploads: Sequence[_Upload], limit: int) -> None:
    if any(len(upload.data) > limit for upload in uploads):
        raise _ApiError(413, 40005, "Request entity too large")


def _check_message(
    payload: JSON, uploads: Sequence[_Upload], *, creating: bool, at: Sequence[str] = ()
) -> None:
    """Refuse what Discord refuses: empty new messages, and anything over Discord's limits.

    `at`: where the message sits in the request body (``data`` in an interaction callback).
    """
    content_keys = ("content", "embeds", "components", "attachments", "sticker_ids", "poll")
    if creating and not uploads and not any(payload.get(key) for key in content_keys):
        raise _ApiError(400, 50006, "Cannot send an empty message")
    _refuse(message_errors(payload), at)


def _refuse(errors: JSON, at: Sequence[str] = ()) -> None:
    """Answer Discord's 400 Invalid Form Body when a check found anything."""
    if not errors:
        return
    for key in reversed(at):
        errors = {key: errors}
    raise _ApiError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


def _invalid_value(value: object, allowed: Iterable[int]) -> JSON:
    message = f"Value must be one of {sorted(allowed)}, not {value!r}."
    return {"_errors": [{"code": "BASE_TYPE_CHOICES", "message": message}]}
