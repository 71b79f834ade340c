"""What the bot needs of Discord: the permissions in a channel where /pose is used, the invite
URL that grants them, and the privileged intents (none)."""

from __future__ import annotations

import discord

from bot.domain.translatable import mark

# What the bot does in a channel by its own token: post a result or a notice as a message with
# an embed and an image (when the interaction's token has run out), and edit it. Answers to
# interactions need no permission, editing its own message neither, and it reads no history,
# reacts to nothing and mentions no role, so nothing else is asked for.
NEEDED = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True
)
INVITE_SCOPES = ("bot", "applications.commands")
# Discord's own names for them, as the server settings show them: every one NEEDED grants.
# Marked: a refused delivery and /status name them in the reader's language.
NAMES = {
    "view_channel": mark("View Channel"),
    "send_messages": mark("Send Messages"),
    "embed_links": mark("Embed Links"),
    "attach_files": mark("Attach Files"),
}
PRIVILEGED_INTENTS = {
    "presences": "Presence",
    "members": "Server Members",
    "message_content": "Message Content",
}
# The application flags saying that a privileged intent is switched on (either form).
_INTENT_FLAGS = {
    "Presence": ("gateway_presence", "gateway_presence_limited"),
    "Server Members": ("gateway_guild_members", "gateway_guild_members_limited"),
    "Message Content": ("gateway_message_content", "gateway_message_content_limited"),
}


def invite_url(application_id: int) -> str:
    scopes = "+".join(INVITE_SCOPES)
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope={scopes}&permissions={NEEDED.value}"
    )


def missing(granted: discord.Permissions) -> list[str]:
    """The needed permissions `granted` lacks, by Discord's names."""
    return [label for name, label in NAMES.items() if not getattr(granted, name)]


def privileged_intents(intents: discord.Intents) -> list[str]:
    """The privileged intents `intents` asks for, by the Developer Portal's names."""
    return [label for name, label in PRIVILEGED_INTENTS.items() if getattr(intents, name)]


def switched_on(flags: discord.ApplicationFlags) -> list[str]:
    """The privileged intents switched on for the application in the Developer Portal."""
    return [
        label
        for label, names in _INTENT_FLAGS.items()
        if any(getattr(flags, name) for name in names)
    ]
