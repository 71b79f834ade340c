"""How jobs are shown to their requesters: the engine says what, the Discord side says how."""

from __future__ import annotations

from typing import Protocol

from bot.domain.images import CheckedImage
from bot.storage.job_store import Job


class WaitTooLong(Exception):
    """The API's rate limit would hold this job past the allowed wait; `until` is the reset."""

    def __init__(self, until: float) -> None:
        super().__init__(f"rate limited until {until:.0f}")
        self.until = until


class Presenter(Protocol):
    async def show_queued(
        self, job: Job, position: int, starts_at: float, *, resumed: bool
    ) -> None: ...

    async def show_running(self, job: Job, *, resumed: bool) -> None: ...

    async def show_waiting(self, job: Job, until: float) -> None:
        """The API rate-limited us: the job is back in its place until `until`."""
        ...

    async def show_interrupted(self, job: Job) -> None: ...

    async def show_paused(self, job: Job, reason: str) -> None:
        """Generation is paused for everyone; the job keeps its place."""
        ...

    async def alert_owner(self, text: str) -> None:
        """Tell the bot's owner something only they can fix (once per pause)."""
        ...

    async def deliver(self, job: Job, image: CheckedImage) -> int:
        """Post the result; return the message's id. Raises when it cannot be posted."""
        ...

    async def report_failure(self, job: Job, error: Exception) -> None: ...

    def is_transient(self, error: Exception) -> bool:
        """Whether posting may work if tried again later (a 5xx, a 429, a dropped connection)
        rather than never (a deleted channel, a missing permission)."""
        ...
