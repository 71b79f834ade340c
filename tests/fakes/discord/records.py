"""What the fake records of a conversation: the messages and the interactions, with waits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fakes.discord.protocol import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE_RESULT,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL,
    JSON,
    _Changes,
    _describe_predicate,
    _now_iso,
)


@dataclass(kw_only=True, eq=False, repr=False)
class FakeMessage:
    """A message the bot created (or, kind "user", one a test posted as a user)."""

    id: int
    channel_id: int
    kind: str  # "original" | "followup" | "channel" | "user"
    interaction_id: int | None = None
    author: JSON | None = None  # None: the bot
    nonce: str | int | None = None
    content: str | None = None
    embeds: list[JSON] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: JSON | None = None
    components: list[JSON] = field(default_factory=list)
    # files[i] is the upload behind attachments[i], the attachment object Discord reports.
    files: list[tuple[str, bytes, str | None]] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    edits: list[JSON] = field(default_factory=list)
    deleted: bool = False
    timestamp: str = field(default_factory=_now_iso)
    edited_timestamp: str | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    def __repr__(self) -> str:
        state = " deleted" if self.deleted else ""
        visibility = " ephemeral" if self.ephemeral else ""
        names = [name for name, _, _ in self.files]
        return (
            f"<{self.kind}{visibility}{state} message {self.id} content={self.content!r} "
            f"embeds={len(self.embeds)} files={names} edits={len(self.edits)}>"
        )


class FakeInteraction:
    """One injected interaction and everything the bot answered to it."""

    def __init__(
        self,
        *,
        interaction_id: int,
        token: str,
        user: JSON,
        command: str,
        channel_id: int,
        attachment_size_limit: int,
        changes: _Changes,
        interaction_type: int = APPLICATION_COMMAND,
        summary: str = "",
        message: FakeMessage | None = None,
        opened_by: FakeInteraction | None = None,
    ) -> None:
        self.id = interaction_id
        self.token = token
        self.user = user
        # The command's full name ("character save"), or the custom_id of a button or modal.
        self.command = command
        self.type = interaction_type
        self.summary = summary or f"/{command}"
        self.channel_id = channel_id
        self.attachment_size_limit = attachment_size_limit
        # The message the pressed button is on (also for a modal opened from a button press).
        self.message = message
        # For a modal submit: the interaction whose callback opened the modal.
        self.opened_by = opened_by
        self.payload: JSON = {}  # the INTERACTION_CREATE data as sent
        self.sent_at = 0.0
        self.callbacks: list[tuple[int, JSON, float]] = []
        # The message "@original" names. For a component interaction answered with type 6 or
        # 7 that is the message the button is on; otherwise the response the bot created.
        self.original: FakeMessage | None = None
        self.original_deleted = False
        # Every message created through the followup webhook, in order. The first one after a
        # deferral is also `original` (kind "original"): on Discord it replaces "thinking".
        self.followups: list[FakeMessage] = []
        self.expired = False
        self.thinking_message_id: int | None = None  # the message a deferral creates
        self.modal: JSON | None = None  # the modal a type 9 callback opened
        self.modal_submits: list[FakeInteraction] = []  # submits of that modal, in order
        self._changes = changes

    @property
    def choices(self) -> list[JSON] | None:
        """The autocomplete choices the bot answered (callback type 8), or None."""
        for kind, data, _ in self.callbacks:
            if kind == AUTOCOMPLETE_RESULT:
                return list(data.get("choices") or [])
        return None

    def acknowledged_after(self) -> float | None:
        if not self.callbacks:
            return None
        return self.callbacks[0][2] - self.sent_at

    @property
    def deferred(self) -> bool:
        return bool(self.callbacks) and self.callbacks[0][0] == DEFERRED_CHANNEL_MESSAGE

    @property
    def deferred_ephemeral(self) -> bool:
        return self.deferred and bool(self.callbacks[0][1].get("flags", 0) & EPHEMERAL)

    @property
    def thinking(self) -> bool:
        """Deferred, and the "thinking" message is neither replaced nor deleted yet."""
        return self.deferred and self.original is None and not self.original_deleted

    def messages(self) -> list[FakeMessage]:
        """The original response (if any) and the followups, without duplicates."""
        found = [self.original] if self.original is not None else []
        return found + [message for message in self.followups if message is not self.original]

    async def wait_for(
        self, predicate: Callable[[FakeInteraction], bool], timeout: float = 10
    ) -> None:
        await self._changes.wait_until(
            lambda: predicate(self),
            timeout,
            lambda: f"{_describe_predicate(predicate)}\n{self.describe()}",
        )

    def describe(self) -> str:
        callbacks = [(kind, data) for kind, data, _ in self.callbacks]
        expired = " (expired)" if self.expired else ""
        lines = [
            f"interaction {self.id} {self.summary} by {self.user.get('username')}{expired}",
            f"  callbacks: {callbacks}",
            f"  original: {self.original!r}{' (deleted)' if self.original_deleted else ''}",
        ]
        if self.modal is not None:
            lines.append(f"  opened modal {self.modal.get('custom_id')!r}")
        lines += [f"  followup: {message!r}" for message in self.followups]
        return "\n".join(lines)
