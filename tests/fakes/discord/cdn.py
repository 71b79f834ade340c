"""Messages and the files they carry: created, edited, and served back by the fake's CDN."""

from __future__ import annotations

import mimetypes
import secrets
import time
from urllib.parse import quote

from aiohttp import web

from tests.fakes.discord.protocol import EPHEMERAL, JSON, _now_iso, _StoredFile, _Upload
from tests.fakes.discord.records import FakeInteraction, FakeMessage


class Cdn:
    """FakeDiscord's message store and CDN (its state is set up in `FakeDiscord.__init__`)."""

    def _new_message(
        self,
        kind: str,
        channel_id: int,
        payload: JSON,
        uploads: list[_Upload],
        *,
        interaction: FakeInteraction | None = None,
        message_id: int | None = None,
        flags: int | None = None,
    ) -> FakeMessage:
        message = FakeMessage(
            id=message_id or self._ids.next(),
            channel_id=channel_id,
            kind=kind,
            interaction_id=interaction.id if interaction is not None else None,
            content=payload.get("content"),
            embeds=payload.get("embeds") or [],
            flags=(payload.get("flags") or 0) if flags is None else flags,
            allowed_mentions=payload.get("allowed_mentions"),
            components=payload.get("components") or [],
        )
        self._set_attachments(message, payload, uploads)
        self._messages.append(message)
        return message

    def _edit_message(self, message: FakeMessage, payload: JSON, uploads: list[_Upload]) -> None:
        if "content" in payload:
            message.content = payload["content"]
        if "embeds" in payload:
            message.embeds = payload["embeds"] or []
        if "components" in payload:
            message.components = payload["components"] or []
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload:
            # Visibility is fixed at creation; an edit can only change the other flags.
            message.flags = (payload["flags"] or 0) & ~EPHEMERAL | message.flags & EPHEMERAL
        if "attachments" in payload or uploads:
            self._set_attachments(message, payload, uploads)
        message.edits.append(payload)
        message.edited_timestamp = _now_iso()

    def _set_attachments(self, message: FakeMessage, payload: JSON, uploads: list[_Upload]) -> None:
        """Apply the payload's `attachments` list: keep the listed ones, add the uploads.

        An entry names either an existing attachment (by its id) or a new upload (by the n of
        its ``files[n]`` part), which is where an upload's description comes from.
        """
        listed = {str(entry["id"]): entry for entry in payload.get("attachments") or []}
        kept = [
            (file, attachment)
            for file, attachment in zip(message.files, message.attachments, strict=True)
            if "attachments" not in payload or attachment["id"] in listed
        ]
        for upload in uploads:
            attachment = self._store_file(
                f"attachments/{message.channel_id}",
                upload.filename,
                upload.data,
                mimetypes.guess_type(upload.filename)[0],
            )
            description = listed.get(str(upload.index), {}).get("description")
            if description is not None:
                attachment["description"] = description
            kept.append(((upload.filename, upload.data, upload.content_type), attachment))
        message.files = [file for file, _ in kept]
        message.attachments = [attachment for _, attachment in kept]

    def _store_file(
        self, folder: str, filename: str, data: bytes, content_type: str | None
    ) -> JSON:
        """Put bytes on the fake CDN and return the attachment object pointing at them."""
        attachment_id = self._ids.next()
        self._files[attachment_id] = _StoredFile(filename, data, content_type)
        url, proxy_url = self._cdn_urls(folder, attachment_id, filename)
        attachment: JSON = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": proxy_url,
        }
        if content_type is not None:
            attachment["content_type"] = content_type
        return attachment

    def _cdn_urls(self, folder: str, attachment_id: int, filename: str) -> tuple[str, str]:
        path = f"{folder}/{attachment_id}/{quote(filename, safe='')}"
        # Real CDN links are signed; keeping the query makes URL handling in the bot realistic.
        issued = int(time.time())
        signature = f"?ex={issued + 86_400:x}&is={issued:x}&hm={secrets.token_hex(32)}&"
        return f"{self.base_url}/cdn/{path}{signature}", f"{self.base_url}/media/{path}{signature}"

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_requests.append(request.path)
        # {ephemeral-}attachments/<channel or app>/<attachment id>/<filename>
        parts = request.match_info["path"].split("/")
        stored = None
        if len(parts) == 4 and parts[2].isdigit():
            stored = self._files.get(int(parts[2]))
        if stored is None or stored.filename != parts[3] or stored.filename in self.expired_files:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(
            body=stored.data, content_type=stored.content_type or "application/octet-stream"
        )
