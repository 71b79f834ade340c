"""The permissions the bot lacks in a server's channels, read over REST and worked out by
discord.py's own models: for the setup check, a refused delivery and /status alike."""

from __future__ import annotations

from collections.abc import Collection

import discord

from bot.check.permissions import missing

# Where /pose can be used: text and announcement channels (threads inherit their parent's).
POSE_CHANNELS = (discord.ChannelType.text, discord.ChannelType.news)


async def fetch_server(client: discord.Client, guild_id: int, name: str = "") -> discord.Guild:
    """The server with its roles, channels and the bot's member, as discord.py models them,
    so that the library's own rules (roles, then overwrites: @everyone's, the roles', the
    member's) say what the bot may do in each channel. Read afresh, not from the gateway's
    cache: a worker has none, and a refusal is worth the three requests."""
    http = client.http
    assert client.user is not None
    data = {
        "id": str(guild_id),
        "name": name,
        "roles": await http.get_roles(guild_id),
        "channels": await http.get_all_guild_channels(guild_id),
        "members": [await http.get_member(guild_id, client.user.id)],
    }
    # The logged-in client's state: the models need it to know which member is the bot.
    return discord.Guild(data=data, state=client._connection)  # type: ignore[arg-type]


def lacking(
    guild: discord.Guild, allowed: Collection[int] = ()
) -> list[tuple[discord.abc.GuildChannel, list[str]]]:
    """Each /pose channel (those `allowed`, when the server names some) where the bot lacks a
    permission it needs, with those permissions by Discord's names, in the server's order."""
    channels = [channel for channel in guild.channels if channel.type in POSE_CHANNELS]
    if allowed:
        channels = [channel for channel in channels if channel.id in allowed]
    me = guild.me
    return [
        (channel, gaps)
        for channel in sorted(channels, key=lambda channel: channel.position)
        if (gaps := missing(channel.permissions_for(me)))
    ]


def pose_channels(guild: discord.Guild, allowed: Collection[int] = ()) -> int:
    """How many channels /pose can be used in (those `allowed`, when the server names some)."""
    return sum(
        1
        for channel in guild.channels
        if channel.type in POSE_CHANNELS and (not allowed or channel.id in allowed)
    )


async def missing_in(client: discord.Client, guild_id: int, channel_id: int) -> list[str]:
    """The needed permissions the bot lacks in one channel of a server (empty: none, or the
    channel is not one the server lists)."""
    guild = await fetch_server(client, guild_id)
    channel = guild.get_channel(channel_id)
    if channel is None:
        return []
    return missing(channel.permissions_for(guild.me))
