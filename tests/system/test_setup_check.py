"""`python -m bot check` as whoever sets the bot up runs it, against the fakes: one line per
finding, each with its fix, and exit status 1 when something the bot needs does not hold. And
a start that Discord refuses (a bad token, disallowed intents) ends in one line saying why."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import asyncpg
import pytest
from yarl import URL

from bot.domain.server_rules import ServerSettings
from bot.storage.database import connect
from bot.storage.job_store import JobStore
from bot.storage.server_store import ServerSettingsStore
from tests.bot_process import BotProcess
from tests.conftest import BOT_TOKEN, StartBot
from tests.fakes.discord import FakeDiscord
from tests.fakes.segmind import FakeSegmind

ATTACH_FILES = 1 << 15
EMBED_LINKS = 1 << 14
# View Channel, Send Messages, Embed Links and Attach Files: what the bot posts with.
PERMISSIONS = 52224
INVITE = (
    f"https://discord.com/oauth2/authorize?client_id={FakeDiscord.APP_ID}"
    f"&scope=bot+applications.commands&permissions={PERMISSIONS}"
)


async def run_check(
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *args: str,
) -> tuple[int, list[str]]:
    """`python -m bot check` in a child process; its exit status and its lines."""
    discord_api.bot_token = BOT_TOKEN  # Discord knows the bot's token: any other is refused
    process = await BotProcess.start(
        discord_api,
        tmp_path,
        {"SEGMIND_BASE_URL": segmind.base_url, **(env or {})},
        "check",
        args=("check", *args),
    )
    status = await process.exited()
    output = process.log
    assert "Traceback" not in output, output
    assert BOT_TOKEN not in output
    return status, output.splitlines()


def lines_starting(lines: list[str], prefix: str) -> list[str]:
    return [line for line in lines if line.startswith(prefix)]


async def migrated(database_url: str) -> JobStore:
    store = JobStore(await connect(database_url))
    await store.migrate()
    return store


async def test_a_sound_setup_passes_and_prints_the_invite_url(
    discord_api: FakeDiscord,
    segmind: FakeSegmind,
    start_bot: StartBot,
    database_url: str,
    tmp_path: Path,
) -> None:
    await (await migrated(database_url)).close()
    await start_bot()  # the commands are registered as the bot registers them

    status, lines = await run_check(discord_api, segmind, tmp_path, {"DATABASE_URL": database_url})

    assert status == 0, "\n".join(lines)
    assert lines_starting(lines, "FAIL") == []
    assert f"ok   discord: invite URL: {INVITE}" in lines
    assert "ok   discord: logged in as FakeBot (id 1180000000000000002)" in lines
    assert lines_starting(lines, "ok   database: migrations current")
    connections = [line for line in lines if "connections in use" in line]
    if database_url.startswith("postgresql"):
        [line] = connections
        assert line.startswith("ok   database: ")
        assert line.endswith("connections in use (each bot process takes up to 6)")
    else:
        assert connections == []
    assert lines_starting(lines, "ok   discord: Fake Guild: every permission needed in its 2 ")
    [commands] = lines_starting(lines, "ok   discord: 12 command(s) registered in server")
    assert commands.endswith("this version's")
    # The fake's application has every privileged intent on: none is needed.
    [intents] = lines_starting(lines, "warn discord: no privileged intent is needed")
    assert "Message Content" in intents
    [balance] = lines_starting(lines, "ok   segmind: balance $")
    assert "generation(s) at $0.58 each" in balance
    assert segmind.billed == 0, "the balance is read for free"
    assert lines[-1] == "everything the bot needs holds"


async def test_a_wrong_or_reset_token_says_where_to_get_a_new_one(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path
) -> None:
    status, lines = await run_check(
        discord_api, segmind, tmp_path, {"DISCORD_TOKEN": "a-token-reset-since"}
    )

    assert status == 1
    [line] = lines_starting(lines, "FAIL discord:")
    assert "Discord refused DISCORD_TOKEN (401): it is wrong or was reset" in line
    assert "Bot > Reset Token" in line


async def test_an_invite_without_the_commands_scope_says_to_invite_again(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path
) -> None:
    discord_api.commands_scope_missing = True

    status, lines = await run_check(discord_api, segmind, tmp_path)

    assert status == 1
    [line] = lines_starting(lines, "FAIL discord:")
    assert "invited without the applications.commands scope" in line
    assert line.endswith(f"invite it again with {INVITE}")


async def test_commands_never_registered_or_of_another_version_are_pointed_out(
    discord_api: FakeDiscord, segmind: FakeSegmind, start_bot: StartBot, tmp_path: Path
) -> None:
    status, lines = await run_check(discord_api, segmind, tmp_path)
    assert status == 1
    [line] = lines_starting(lines, "FAIL discord:")
    assert "no command registered in server" in line

    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    await start_bot(database_url=database_url)
    # Another version registered these: /help is gone, /pose says something else, /old is new.
    registered = discord_api._commands[FakeDiscord.GUILD_ID]
    registered[:] = [command for command in registered if command["name"] != "help"]
    next(c for c in registered if c["name"] == "pose")["description"] = "An older wording"
    registered.append(registered[0] | {"name": "old", "id": "1"})

    status, lines = await run_check(discord_api, segmind, tmp_path, {"DATABASE_URL": database_url})
    assert status == 1
    [line] = lines_starting(lines, "FAIL discord:")
    assert "are not this version's: /pose changed; /help missing; /old unknown to this" in line
    assert line.endswith("-> (re)start the bot (BOT_ROLE all or gateway): it registers its own")

    # As the line says: a restart on the same database registers this version's commands.
    await start_bot(database_url=database_url)
    await discord_api.wait_for(
        lambda: "help" in {c["name"] for c in discord_api._commands[FakeDiscord.GUILD_ID]}
    )
    status, lines = await run_check(discord_api, segmind, tmp_path, {"DATABASE_URL": database_url})
    assert status == 0, "\n".join(lines)


async def test_each_channel_lacking_a_permission_gets_its_line(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path, start_bot: StartBot
) -> None:
    bot_role = 1_180_000_000_000_000_077
    # @everyone may not embed links; the bot's role may: nothing lacks in #general.
    discord_api.everyone_permissions &= ~EMBED_LINKS
    discord_api.roles = {bot_role: EMBED_LINKS}
    discord_api.bot_roles = [bot_role]
    # In the other channel, @everyone may not attach files: the bot neither.
    discord_api.channel_overwrites[FakeDiscord.OTHER_CHANNEL_ID] = [
        {"id": str(FakeDiscord.GUILD_ID), "type": 0, "allow": "0", "deny": str(ATTACH_FILES)}
    ]
    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    await start_bot(database_url=database_url)

    status, lines = await run_check(discord_api, segmind, tmp_path, {"DATABASE_URL": database_url})

    assert status == 1
    [line] = lines_starting(lines, "FAIL discord:")
    other = f"channel-{FakeDiscord.OTHER_CHANNEL_ID}"
    assert line.startswith(f"FAIL discord: Fake Guild #{other}: the bot lacks Attach Files -> ")

    # Once the server's admins allow /pose in #general alone, the other channel is not theirs.
    store = JobStore(await connect(database_url))
    await ServerSettingsStore(store.database).save(
        ServerSettings(FakeDiscord.GUILD_ID, channels=(FakeDiscord.CHANNEL_ID,))
    )
    await store.close()
    status, lines = await run_check(discord_api, segmind, tmp_path, {"DATABASE_URL": database_url})
    assert status == 0, "\n".join(lines)
    assert "ok   discord: Fake Guild: every permission needed in its 1 /pose channel(s)" in lines


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_an_unreachable_database_fails_the_offline_check(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path, kind: str
) -> None:
    (tmp_path / "a-file").write_text("")
    url = {
        # A folder that cannot be made: a file has its name.
        "sqlite": f"sqlite:///{tmp_path / 'a-file' / 'bot.db'}",
        # Nothing listens on port 1.
        "postgres": "postgresql://bot:secret-password@127.0.0.1:1/posebot",
    }[kind]

    status, lines = await run_check(
        discord_api, segmind, tmp_path, {"DATABASE_URL": url}, "--offline"
    )

    assert status == 1
    [line] = lines_starting(lines, "FAIL database:")
    assert "cannot open" in line
    assert "check DATABASE_URL" in line
    assert "secret-password" not in "\n".join(lines)
    assert not lines_starting(lines, "ok   discord"), "--offline asks Discord nothing"
    assert not discord_api.requests


async def test_a_database_over_its_storage_budget_fails(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path, database_url: str
) -> None:
    store = await migrated(database_url)
    await store.database.execute("CREATE TABLE filler (data TEXT)")
    await store.database.execute("INSERT INTO filler (data) VALUES ($1)", "x" * 3 * 1024 * 1024)
    await store.close()

    status, lines = await run_check(
        discord_api,
        segmind,
        tmp_path,
        {"DATABASE_URL": database_url, "STORAGE_BUDGET_MB": "1"},
        "--offline",
    )

    assert status == 1
    [line] = lines_starting(lines, "FAIL database:")
    assert "MB in use of the 1 MB STORAGE_BUDGET_MB: over the budget -> raise" in line


async def test_a_refused_api_key_says_where_to_get_one(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path, start_bot: StartBot
) -> None:
    await start_bot()
    status, lines = await run_check(
        discord_api, segmind, tmp_path, {"SEGMIND_API_KEY": "sg-revoked"}
    )

    assert status == 1
    [line] = lines_starting(lines, "FAIL segmind:")
    assert "Segmind refused SEGMIND_API_KEY (HTTP 401)" in line
    assert "cloud.segmind.com" in line
    assert "sg-revoked" not in "\n".join(lines)


async def test_a_balance_below_one_generation_fails_and_a_low_one_warns(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path, start_bot: StartBot
) -> None:
    await start_bot()
    segmind.starting_credits = 0.30
    status, lines = await run_check(discord_api, segmind, tmp_path)
    assert status == 1
    [line] = lines_starting(lines, "FAIL segmind:")
    assert "balance $0.30: 0 generation(s) at $0.58 each: every request would be refused" in line

    segmind.starting_credits = 3.00
    status, lines = await run_check(discord_api, segmind, tmp_path)
    assert status == 0
    [line] = lines_starting(lines, "warn segmind:")
    assert "balance $3.00: 5 generation(s) at $0.58 each: running low -> add credits" in line


async def test_a_misspelled_variable_is_pointed_out(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path
) -> None:
    status, lines = await run_check(
        discord_api,
        segmind,
        tmp_path,
        {"STORAGE_BUDGET": "700", "POSEBOT_COLOUR": "blue"},
        "--offline",
    )

    assert status == 0, "\n".join(lines)
    assert (
        "warn config: STORAGE_BUDGET is not read by the bot -> did you mean STORAGE_BUDGET_MB?"
        in lines
    )
    assert lines_starting(lines, "warn config: POSEBOT_COLOUR is not read by the bot -> remove")

    # A misspelled required name: the one the bot wants is not set, and the one given says why.
    status, lines = await run_check(
        discord_api,
        segmind,
        tmp_path,
        {"DISCORD_TOKEN": "", "DISCORD_TOKN": BOT_TOKEN},
        "--offline",
    )
    assert status == 1
    assert lines_starting(lines, "FAIL config: DISCORD_TOKEN is not set")
    assert (
        "warn config: DISCORD_TOKN is not read by the bot -> did you mean DISCORD_TOKEN?" in lines
    )


async def test_a_start_logs_the_invite_url_once(
    discord_api: FakeDiscord, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.posebot")
    await start_bot()
    await discord_api.force_reconnect()  # a new gateway connection is not a new start
    await discord_api.wait_identified()

    invites = [r.getMessage() for r in caplog.records if "invite" in r.getMessage()]
    assert invites == [f"invite the bot with {INVITE}"]


async def test_a_bad_token_at_start_exits_with_the_fix_in_one_line(
    discord_api: FakeDiscord, tmp_path: Path
) -> None:
    discord_api.bot_token = "the-token-discord-knows"
    # The offline part of the check runs at every start, and logs what it finds.
    process = await BotProcess.start(discord_api, tmp_path, {"STORAGE_BUDGET": "700"}, "bot")

    status = await process.exited()

    assert status != 0
    assert (
        "WARNING  bot: setup check: warn config: STORAGE_BUDGET is not read by the bot -> "
        "did you mean STORAGE_BUDGET_MB?" in process.log
    )
    errors = [line for line in process.log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, process.log
    assert "Discord refused DISCORD_TOKEN (401): it is wrong or was reset" in errors[0]
    assert "Reset Token" in errors[0]
    assert "Traceback" not in process.log
    assert BOT_TOKEN not in process.log


async def test_disallowed_intents_at_start_name_them_and_say_none_is_needed(
    discord_api: FakeDiscord, tmp_path: Path
) -> None:
    discord_api.disallowed_intents = True
    process = await BotProcess.start(discord_api, tmp_path, {}, "bot")

    status = await asyncio.wait_for(process.exited(), 60)

    assert status != 0
    errors = [line for line in process.log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, process.log
    assert "Discord refused the gateway (4014" in errors[0]
    assert "Presence, Server Members, Message Content" in errors[0]
    assert "it needs none" in errors[0]
    assert "Traceback" not in process.log


async def test_every_malformed_variable_gets_its_line(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path
) -> None:
    status, lines = await run_check(
        discord_api,
        segmind,
        tmp_path,
        {
            "SEGMIND_RPM": "0",
            "USER_COOLDOWN_SECONDS": "soon",
            "DATABASE_URL": "mysql://bot:hunter2@db/bot",
        },
        "--offline",
    )

    assert status == 1
    failed = lines_starting(lines, "FAIL config:")
    assert [line.split()[2] for line in failed] == [
        "USER_COOLDOWN_SECONDS='soon'",
        "SEGMIND_RPM='0'",
        "DATABASE_URL",
    ]
    assert "expected a whole number from 1 to 10000" in failed[1]
    assert "hunter2" not in "\n".join(lines)


async def test_postgres_connections_at_the_roles_limit_fail(
    discord_api: FakeDiscord, segmind: FakeSegmind, tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: a SQLite file has no connections to count")
    store = await migrated(database_url)
    # A role limited as a managed plan limits its role (Heroku's Essential plans: 20).
    role = f"posebot_check_{secrets.token_hex(4)}"
    schema = database_url.rsplit("search_path=", 1)[1]
    await store.database.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 3')
    await store.database.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    await store.database.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    url = str(URL(database_url).with_user(role))
    held: list[asyncpg.Connection] = []
    try:
        # Two connections of the role are taken: the check's own is the third and last.
        held = [await asyncpg.connect(url) for _ in range(2)]
        status, lines = await run_check(
            discord_api, segmind, tmp_path, {"DATABASE_URL": url}, "--offline"
        )
    finally:
        for connection in held:
            await connection.close()
        await store.database.execute(f'DROP OWNED BY "{role}"')
        await store.database.execute(f'DROP ROLE "{role}"')
        await store.close()

    assert status == 1
    [line] = lines_starting(lines, "FAIL database:")
    assert (
        "3 of the role's 3 connections in use (each bot process takes up to 6): all taken" in line
    )
