"""The fake Discord: REST, gateway and CDN on loopback, for the real discord.py (see `server`)."""

from tests.fakes.discord.server import (
    DEFAULT_PERMISSIONS,
    DISCORD_FAULT_KINDS,
    DiscordFaults,
    FakeDiscord,
    FakeInteraction,
    FakeMessage,
    GivenFault,
    RecordedError,
    RouteFamily,
    point_discord_py_at,
)

__all__ = [
    "DEFAULT_PERMISSIONS",
    "DISCORD_FAULT_KINDS",
    "DiscordFaults",
    "FakeDiscord",
    "FakeInteraction",
    "FakeMessage",
    "GivenFault",
    "RecordedError",
    "RouteFamily",
    "point_discord_py_at",
]
