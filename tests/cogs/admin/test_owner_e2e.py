"""The bot's owner is the application's owner (a team's owner for a team), as the README
says: not every admin or developer of the team, whom discord.py's own check accepts."""

from __future__ import annotations

from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import refused

TEAM_ADMIN = 4242
TEAM_DEVELOPER = 4343


async def test_team_members_other_than_its_owner_are_not_the_bots_owner(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    discord_api.team_members = {TEAM_ADMIN: "admin", TEAM_DEVELOPER: "developer"}
    await start_bot()
    for member in (TEAM_ADMIN, TEAM_DEVELOPER):
        user = discord_api.make_user(member, f"member{member}")
        attempt = await discord_api.invoke("admin", subcommand="pause", user=user)
        assert "Only the bot's owner" in await refused(attempt)

    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    paused = await discord_api.invoke("admin", subcommand="pause", user=owner)
    assert "Paused" in await refused(paused)
