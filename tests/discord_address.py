"""Where discord.py sends its REST, gateway and CDN traffic, for a fake Discord. Its own module,
importing nothing but discord.py: the bot's child process (tests/bot_child.py) loads it, and
a benchmark of that process's memory must not carry the test harness as well."""

from __future__ import annotations

import discord
import yarl

API_PREFIX = "/api/v10"


def point_discord_py_at(base_url: str) -> None:
    """Send discord.py's REST, gateway and CDN traffic to a fake at `base_url` (http://host:port)."""
    discord.http.Route.BASE = base_url + API_PREFIX
    gateway = base_url.replace("http://", "ws://", 1) + "/gateway"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    discord.asset.Asset.BASE = base_url + "/cdn"
