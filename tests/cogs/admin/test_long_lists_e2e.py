"""Long lists in replies: many blocked words, allowed channels or servers still make replies that
Discord accepts, saying how many there are, with the whole list attached where it helps."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from bot.domain.pose_request import PoseOptions
from bot.posebot import PoseBot
from bot.storage.job_store import NewJob
from cogs.admin import MAX_SERVER_NEGATIVE
from tests.conftest import StartBot
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage
from tests.fakes.segmind import FakeSegmind
from tests.user_actions import pose, refused

MANAGE_GUILD = 1 << 5
# Allowed channels that the fake's server does not have (deleted since, say): the bot knows
# only their ids.
FIRST_CHANNEL_ID = 1_180_000_000_000_100_000


async def admin(
    discord_api: FakeDiscord, subcommand: str, *, user: Any = None, **options: Any
) -> FakeInteraction:
    types = {bool: 5, str: 3}
    sent = [
        {"name": name, "type": 7 if name == "channel" else types[type(value)], "value": value}
        for name, value in options.items()
    ]
    return await discord_api.invoke(
        "admin", sent, subcommand=subcommand, permissions=MANAGE_GUILD, user=user
    )


async def reply(interaction: FakeInteraction) -> FakeMessage:
    """The private answer the user sees, once it has arrived."""
    await interaction.wait_for(lambda i: any(m.ephemeral for m in i.messages()))
    [message] = [m for m in interaction.messages() if m.ephemeral]
    return message


def line_of(message: FakeMessage, start: str) -> str:
    """The rest of the reply's line that begins with `start`."""
    [line] = [line for line in (message.content or "").splitlines() if line.startswith(start)]
    return line.removeprefix(start)


def attached(message: FakeMessage, filename: str) -> list[str]:
    [data] = [data for name, data, _ in message.files if name == filename]
    return data.decode().splitlines()


async def test_two_hundred_blocked_words_are_counted_and_attached(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot: PoseBot = await start_bot()
    # As long as /admin block allows: 200 of them take over 10 000 characters. Every other
    # setting is at its longest too.
    words = [f"{n:03d}".ljust(50, "x") for n in range(200)]
    server = await bot.servers.get(FakeDiscord.GUILD_ID)
    await bot.servers.save(
        dataclasses.replace(
            server,
            blocked_words=tuple(words[:-1]),
            channels=tuple(FIRST_CHANNEL_ID + n for n in range(500)),
            negative_prompt="n" * MAX_SERVER_NEGATIVE,
            daily_cap=100_000,
            user_cap=100_000,
        )
    )

    blocked = await reply(await admin(discord_api, "block", word=words[-1]))
    shown = await reply(await admin(discord_api, "settings"))
    for message in (blocked, shown):
        line = line_of(message, "- Blocked words: ")
        assert line.startswith("200 words; first ")
        count, rest = line.removeprefix("200 words; first ").split(": ", 1)
        assert rest == f"{', '.join(words[: int(count)])} (all in blocked-words.txt)"
        assert attached(message, "blocked-words.txt") == words
    assert (await bot.servers.get(FakeDiscord.GUILD_ID)).blocked_words == tuple(words)


async def test_a_hundred_allowed_channels_are_summarised_and_attached_for_admins(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot: PoseBot = await start_bot()
    await allow_channels(bot, tuple(FIRST_CHANNEL_ID + n for n in range(99)))
    other = FakeDiscord.OTHER_CHANNEL_ID
    answer = await reply(await admin(discord_api, "channel", channel=str(other), allowed=True))
    line = line_of(answer, "- /pose works in: ")
    assert line.startswith("100 channels; first ")
    assert line.endswith(" (all in pose-channels.txt)")
    listed = attached(answer, "pose-channels.txt")
    assert len(listed) == 100
    assert listed[0] == f"unknown channel ({FIRST_CHANNEL_ID})"  # not in this server any more
    assert listed[-1] == f"#channel-{other} ({other})"


async def test_a_member_elsewhere_is_told_where_pose_works_among_a_hundred_channels(
    start_bot: StartBot, discord_api: FakeDiscord, segmind: FakeSegmind
) -> None:
    bot: PoseBot = await start_bot()
    await allow_channels(bot, tuple(FIRST_CHANNEL_ID + n for n in range(100)))
    text = await refused(await pose(discord_api))  # in the fake's channel, not allowed
    assert text.startswith("In this server, /pose can be used in 100 channels; first ")
    assert f"<#{FIRST_CHANNEL_ID}>, <#{FIRST_CHANNEL_ID + 1}>" in text
    assert segmind.submits == []


async def allow_channels(bot: PoseBot, channels: tuple[int, ...]) -> None:
    server = await bot.servers.get(FakeDiscord.GUILD_ID)
    await bot.servers.save(dataclasses.replace(server, channels=channels))


async def test_spend_over_many_servers_shows_the_top_ones_and_attaches_them_all(
    start_bot: StartBot, discord_api: FakeDiscord
) -> None:
    bot: PoseBot = await start_bot()
    # Requests that were accepted and wait: held, so that the bot does not run them meanwhile.
    await bot.runner.pause("the test holds every request")
    now = time.time()
    servers = 150
    for n in range(servers):
        guild_id = 1_180_000_000_000_200_000 + n
        await bot.store.add_job(job_in(guild_id, now, cost=1.0 + n / 100), [])

    owner = discord_api.make_user(FakeDiscord.OWNER_ID, "owner")
    answer = await reply(await admin(discord_api, "spend", user=owner))
    text = answer.content or ""
    assert f"{servers} servers; first" in text
    assert text.index("server 1180000000000200149: 1 generation, $2.49") < text.index(
        "server 1180000000000200148: 1 generation, $2.48"
    ), "the most spent first"
    listed = attached(answer, "spend-per-server.txt")
    assert len(listed) == servers
    assert listed[-1] == "- server 1180000000000200000: 1 generation, $1.00"


def job_in(guild_id: int, now: float, *, cost: float) -> NewJob:
    """A request accepted in another server, reserving `cost` dollars."""
    return NewJob(
        requester_id=1_180_000_000_000_300_000,
        guild_id=guild_id,
        channel_id=1,
        application_id=FakeDiscord.APP_ID,
        interaction_id=guild_id,  # one interaction is one request
        token="token",
        token_expires_at=now + 900,
        status_message_id=None,
        upload_limit=10 * 1024 * 1024,
        options=PoseOptions(
            prompt="a knight", negative_prompt="", seed=1, steps=10, guidance=3.0, size="square"
        ),
        created_at=now,
        cost=cost,
    )
