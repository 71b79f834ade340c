"""Discord's objects as the fake shows them: users, members, channels, the guild, interactions
and messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tests.fakes.discord.protocol import (
    APPLICATION_COMMAND,
    CHAT_INPUT,
    CONTEXT_BOT_DM,
    CONTEXT_GUILD,
    DEFAULT_PERMISSIONS,
    EPHEMERAL,
    GUILD_INSTALL,
    JOINED_AT,
    JSON,
    LOADING,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_COMPONENT,
    MESSAGE_CONTEXT_MENU_COMMAND,
    MESSAGE_DEFAULT,
    _flatten_options,
)
from tests.fakes.discord.records import FakeInteraction, FakeMessage


class Payloads:
    """FakeDiscord's JSON shapes of what it holds (state set up in `FakeDiscord.__init__`)."""

    def _bot_user(self) -> JSON:
        return self.make_user(self.BOT_USER_ID, self.BOT_NAME) | {
            "global_name": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
        }

    def _member(self, user: JSON) -> JSON:
        return {
            "user": user,
            "roles": [],
            "joined_at": JOINED_AT,
            "premium_since": None,
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }

    def _text_channel(self, channel_id: int | None = None) -> JSON:
        channel_id = channel_id or self.CHANNEL_ID
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.GUILD_ID),
            "name": "general" if channel_id == self.CHANNEL_ID else f"channel-{channel_id}",
            "position": 0 if channel_id == self.CHANNEL_ID else 1,
            "permission_overwrites": self.channel_overwrites.get(channel_id, []),
            "nsfw": self.channel_age_restricted,
            "topic": None,
            "parent_id": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def _dm_channel(self, channel_id: int, user: JSON) -> JSON:
        return {"id": str(channel_id), "type": 1, "recipients": [user], "last_message_id": None}

    def _dm_channel_id(self, user: JSON) -> int:
        user_id = int(user["id"])
        if user_id not in self._dm_channels:
            self._dm_channels[user_id] = self._ids.next()
        return self._dm_channels[user_id]

    def _guild(self) -> JSON:
        everyone = {
            "id": str(self.GUILD_ID),  # @everyone shares the guild's id
            "name": "@everyone",
            "permissions": str(self.everyone_permissions),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        roles = [
            everyone
            | {"id": str(role_id), "name": f"role-{role_id}", "permissions": str(permissions)}
            | {"position": position}
            for position, (role_id, permissions) in enumerate(self.roles.items(), start=1)
        ]
        return {
            "id": str(self.GUILD_ID),
            "name": "Fake Guild",
            "icon": None,
            "owner_id": str(self.OWNER_ID),
            "unavailable": False,
            "large": False,
            # Equal to the members listed, so discord.py sees the guild as chunked.
            "member_count": 1,
            "joined_at": JOINED_AT,
            "roles": [everyone, *roles],
            "channels": [self._text_channel(), self._text_channel(self.OTHER_CHANNEL_ID)],
            "members": [self._member(self._bot_user())],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "emojis": [],
            "stickers": [],
            "features": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "preferred_locale": self.guild_locale,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "afk_timeout": 300,
            "system_channel_id": None,
        }

    def _command_data(
        self,
        registered: JSON,
        scope: int | None,
        options: Sequence[JSON],
        attachments: Iterable[JSON],
    ) -> JSON:
        data: JSON = {"id": registered["id"], "name": registered["name"], "type": CHAT_INPUT}
        if options:
            data["options"] = list(options)
        resolved: JSON = {}
        files = {attachment["id"]: attachment for attachment in attachments}
        if files:
            resolved["attachments"] = files
        # A channel option (type 7) names the guild channel; Discord resolves it with the
        # invoker's permissions there.
        named = [o["value"] for o in _flatten_options(options) if o.get("type") == 7]
        if named:
            resolved["channels"] = {
                str(channel_id): self._text_channel(int(channel_id))
                | {"permissions": str(DEFAULT_PERMISSIONS)}
                for channel_id in named
            }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    def _interaction_payload(
        self,
        interaction: FakeInteraction,
        data: JSON,
        *,
        guild: bool,
        permissions: int,
        app_permissions: int,
        locale: str,
    ) -> JSON:
        payload: JSON = {
            "id": str(interaction.id),
            "application_id": str(self.APP_ID),
            "type": interaction.type,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(app_permissions),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": interaction.attachment_size_limit,
            "channel_id": str(interaction.channel_id),
        }
        if interaction.message is not None:
            # The message as it is now, with its components and flags, as Discord sends it.
            payload["message"] = self._message_payload(interaction.message)
        if guild:
            return payload | {
                "guild_id": str(self.GUILD_ID),
                "guild_locale": self.guild_locale,
                "guild": {"id": str(self.GUILD_ID), "locale": self.guild_locale, "features": []},
                "channel": self._text_channel() | {"permissions": str(permissions)},
                "member": self._member(interaction.user) | {"permissions": str(permissions)},
                "authorizing_integration_owners": {GUILD_INSTALL: str(self.GUILD_ID)},
                "context": CONTEXT_GUILD,
            }
        return payload | {
            "channel": self._dm_channel(interaction.channel_id, interaction.user),
            "user": interaction.user,
            # "0" is Discord's guild id for a guild-installed app used in its bot's DMs.
            "authorizing_integration_owners": {GUILD_INSTALL: "0"},
            "context": CONTEXT_BOT_DM,
        }

    def _message_payload(self, message: FakeMessage) -> JSON:
        payload: JSON = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": message.author or self._bot_user(),
            "content": message.content or "",
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": message.attachments,
            "embeds": message.embeds,
            "pinned": False,
            "type": MESSAGE_DEFAULT,
            "flags": message.flags,
            "components": message.components,
        }
        if message.interaction_id is not None:
            interaction = self.interactions[message.interaction_id]
            metadata = self._interaction_metadata(interaction)
            original = interaction.original
            if (
                original is not None
                and original is not message
                and original.interaction_id == interaction.id
            ):
                metadata["original_response_message_id"] = str(original.id)
            payload |= {
                "type": _response_message_type(interaction),
                "webhook_id": str(self.APP_ID),
                "application_id": str(self.APP_ID),
                "interaction_metadata": metadata,
            }
        return payload

    def _interaction_metadata(self, interaction: FakeInteraction) -> JSON:
        """What a response message tells about the interaction it answers."""
        metadata: JSON = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": interaction.user,
            "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
        }
        if interaction.type == MESSAGE_COMPONENT and interaction.message is not None:
            metadata["interacted_message_id"] = str(interaction.message.id)
        if interaction.opened_by is not None:
            metadata["triggering_interaction_metadata"] = self._interaction_metadata(
                interaction.opened_by
            )
        target = interaction.payload["data"].get("target_id")
        if target is not None:
            metadata["target_message_id"] = target
        return metadata

    def _thinking_payload(self, interaction: FakeInteraction) -> JSON:
        """The "<bot> is thinking..." message a deferral shows until it is replaced."""
        assert interaction.thinking_message_id is not None
        visibility = EPHEMERAL if interaction.deferred_ephemeral else 0
        placeholder = FakeMessage(
            id=interaction.thinking_message_id,
            channel_id=interaction.channel_id,
            kind="original",
            interaction_id=interaction.id,
            flags=LOADING | visibility,
        )
        return self._message_payload(placeholder)


def _response_message_type(interaction: FakeInteraction) -> int:
    if interaction.type != APPLICATION_COMMAND:
        return MESSAGE_DEFAULT
    if interaction.payload["data"].get("type", CHAT_INPUT) == CHAT_INPUT:
        return MESSAGE_CHAT_INPUT_COMMAND
    return MESSAGE_CONTEXT_MENU_COMMAND
