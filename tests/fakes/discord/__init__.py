"""The fake Discord: REST API, gateway and CDN on loopback, for the real discord.py.

`FakeDiscord` (server.py) is put together from one part per concern: the gateway
(gateway.py), the bot's REST routes (rest.py), interaction callbacks and webhooks
(webhooks.py), messages and the CDN (cdn.py), Discord's JSON shapes (payloads.py), what users
do (actions.py) and Discord failing (faults.py); limits.py holds Discord's size limits.
"""

from tests.fakes.discord.faults import DISCORD_FAULT_KINDS, DiscordFaults, GivenFault, RouteFamily
from tests.fakes.discord.protocol import DEFAULT_PERMISSIONS, RecordedError
from tests.fakes.discord.records import FakeInteraction, FakeMessage
from tests.fakes.discord.server import FakeDiscord, point_discord_py_at

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
