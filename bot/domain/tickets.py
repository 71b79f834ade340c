"""A generation the image API accepted in async mode: what storage keeps and the client polls."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ticket:
    """An async-mode generation the API has accepted (and billed): poll it, never resubmit."""

    request_id: str | None
    status_url: str
    response_url: str | None
