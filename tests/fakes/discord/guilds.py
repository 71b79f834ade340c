"""The fake's read-only guild routes, as Discord answers them to a bot token: the servers the
bot is in, their channels (with permission overwrites), roles and the bot's own member."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.discord.protocol import JSON, _ApiError, _json


class GuildRoutes:
    """FakeDiscord's guild routes (its state is set up in `FakeDiscord.__init__`)."""

    def _known_guild(self, request: web.Request) -> int:
        guild_id = int(request.match_info["guild"])
        if guild_id != self.GUILD_ID:
            raise _ApiError(404, 10004, "Unknown Guild")
        return guild_id

    async def _get_my_guilds(self, request: web.Request) -> web.Response:
        guild = self._guild()
        partial: JSON = {
            "id": guild["id"],
            "name": guild["name"],
            "icon": None,
            "banner": None,
            "owner": False,
            "permissions": str(self.everyone_permissions),
            "features": [],
        }
        return _json([partial])

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        self._known_guild(request)
        return _json(self._guild()["channels"])

    async def _get_guild_roles(self, request: web.Request) -> web.Response:
        self._known_guild(request)
        return _json(self._guild()["roles"])

    async def _get_guild_member(self, request: web.Request) -> web.Response:
        self._known_guild(request)
        if int(request.match_info["user"]) != self.BOT_USER_ID:
            raise _ApiError(404, 10007, "Unknown Member")
        return _json(self._member(self._bot_user()) | {"roles": [str(r) for r in self.bot_roles]})
