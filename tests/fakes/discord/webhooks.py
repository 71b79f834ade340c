"""The fake's interaction routes: callbacks (one per interaction, of an allowed type, within
3 s) and the followup webhook (after a callback, while the token lives)."""

from __future__ import annotations

import time

from aiohttp import web

from tests.fakes.discord.limits import choices_errors, modal_errors
from tests.fakes.discord.protocol import (
    ALLOWED_CALLBACKS,
    AUTOCOMPLETE_RESULT,
    CALLBACK_DEADLINE_SECONDS,
    CHANNEL_MESSAGE,
    CHANNEL_WRITING_CALLBACKS,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    JSON,
    MODAL,
    UPDATE_MESSAGE,
    _ApiError,
    _json,
    _truthy,
    _Upload,
)
from tests.fakes.discord.records import FakeInteraction, FakeMessage
from tests.fakes.discord.rest import (
    _check_message,
    _check_uploads,
    _invalid_value,
    _read_body,
    _refuse,
)


class InteractionRoutes:
    """FakeDiscord's interaction callback and webhook routes (state in `FakeDiscord.__init__`)."""

    async def _callback(self, request: web.Request) -> web.Response:
        received = time.monotonic()
        interaction = self.interactions.get(int(request.match_info["interaction"]))
        if (
            interaction is None
            or interaction.token != request.match_info["token"]
            or interaction.expired
        ):
            raise _ApiError(404, 10062, "Unknown interaction")
        body, uploads = await _read_body(request)
        kind, data = body.get("type"), body.get("data") or {}
        if interaction.callbacks:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        if received - interaction.sent_at > CALLBACK_DEADLINE_SECONDS:
            raise _ApiError(404, 10062, "Unknown interaction")
        allowed = ALLOWED_CALLBACKS[interaction.type]
        if interaction.message is None:
            # Types 6 and 7 update the message a button is on; without one they do not apply.
            allowed = allowed - {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}
        if kind not in allowed:
            raise _ApiError(
                400, 50035, "Invalid Form Body", {"type": _invalid_value(kind, allowed)}
            )
        if (
            kind in CHANNEL_WRITING_CALLBACKS
            and self.channel_deleted
            and interaction.channel_id == self.CHANNEL_ID
        ):
            raise _ApiError(404, 10003, "Unknown Channel")
        if kind == CHANNEL_MESSAGE:
            _check_uploads(uploads, interaction.attachment_size_limit)
            _check_message(data, uploads, creating=True, at=("data",))
            interaction.original = self._new_message(
                "original", interaction.channel_id, data, uploads, interaction=interaction
            )
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            interaction.thinking_message_id = self._ids.next()
        elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            message = interaction.message
            assert message is not None
            if message.deleted:
                raise _ApiError(404, 10008, "Unknown Message")
            if kind == UPDATE_MESSAGE:
                _check_uploads(uploads, interaction.attachment_size_limit)
                _check_message(data, uploads, creating=False, at=("data",))
                self._edit_message(message, data, uploads)
            # From now on "@original" is the message the button is on.
            interaction.original = message
        elif kind == AUTOCOMPLETE_RESULT:
            _refuse(choices_errors(data), ("data",))
        elif kind == MODAL:
            _refuse(modal_errors(data), ("data",))
            interaction.modal = data
        interaction.callbacks.append((kind, data, received))
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        return _json(self._callback_response(interaction, kind))

    def _callback_response(self, interaction: FakeInteraction, kind: int) -> JSON:
        """The ?with_response=1 body: the interaction's state and the message it now has."""
        summary: JSON = {"id": str(interaction.id), "type": interaction.type}
        resource: JSON = {"type": kind}
        # Discord names a message only for the callbacks that create, update or defer one.
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE) and interaction.original is not None:
            resource["message"] = self._message_payload(interaction.original)
            message_id, ephemeral = interaction.original.id, interaction.original.ephemeral
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            resource["message"] = self._thinking_payload(interaction)
            message_id, ephemeral = interaction.thinking_message_id, interaction.deferred_ephemeral
        else:
            return {"interaction": summary, "resource": resource}
        summary |= {
            "response_message_id": str(message_id),
            "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": ephemeral,
        }
        return {"interaction": summary, "resource": resource}

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction:
        if int(request.match_info["app"]) != self.APP_ID:
            raise _ApiError(404, 10015, "Unknown Webhook")
        interaction = self._by_token.get(request.match_info["token"])
        if interaction is None or interaction.expired:
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        if not interaction.callbacks:
            raise _ApiError(404, 10015, "Unknown Webhook")
        if self.channel_deleted and interaction.channel_id == self.CHANNEL_ID:
            # The webhook writes into the channel: with the channel gone, so is the message.
            raise _ApiError(404, 10003, "Unknown Channel")
        return interaction

    def _webhook_message(self, interaction: FakeInteraction, ref: str) -> FakeMessage | None:
        """The message `ref` names; None for "@original" while it is still "thinking"."""
        if ref == "@original":
            if interaction.thinking:
                return None
            message = interaction.original
        else:
            message = next((m for m in interaction.messages() if str(m.id) == ref), None)
        if message is None or message.deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        return message

    async def _create_followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, interaction.attachment_size_limit)
        _check_message(payload, uploads, creating=True)
        if interaction.thinking:
            message = self._replace_thinking(interaction, payload, uploads)
        else:
            message = self._new_message(
                "followup", interaction.channel_id, payload, uploads, interaction=interaction
            )
        interaction.followups.append(message)
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return _json(self._message_payload(message))

    def _replace_thinking(
        self, interaction: FakeInteraction, payload: JSON, uploads: list[_Upload]
    ) -> FakeMessage:
        """Turn the deferral's "thinking" message into the real original response.

        Its visibility was fixed by the deferral: the ephemeral flag sent now is ignored.
        """
        visibility = EPHEMERAL if interaction.deferred_ephemeral else 0
        flags = (payload.get("flags") or 0) & ~EPHEMERAL | visibility
        message = self._new_message(
            "original",
            interaction.channel_id,
            payload,
            uploads,
            interaction=interaction,
            message_id=interaction.thinking_message_id,
            flags=flags,
        )
        interaction.original = message
        return message

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(interaction, request.match_info["message"])
        if message is None:
            return _json(self._thinking_payload(interaction))
        return _json(self._message_payload(message))

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(interaction, request.match_info["message"])
        payload, uploads = await _read_body(request)
        _check_uploads(uploads, interaction.attachment_size_limit)
        if message is None:
            _check_message(payload, uploads, creating=True)
            message = self._replace_thinking(interaction, payload, uploads)
        else:
            _check_message(payload, uploads, creating=False)
            self._edit_message(message, payload, uploads)
        return _json(self._message_payload(message))

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        message = self._webhook_message(interaction, request.match_info["message"])
        if message is not None:
            message.deleted = True
        if message is None or message is interaction.original:
            interaction.original = None
            interaction.original_deleted = True
        return web.Response(status=204)
