"""The Discord part of the setup check, over REST with the bot's token: the token, the
application and its intents, the invite URL, the permissions in each server's /pose channels,
and whether the registered commands are this version's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord.http import Route

from bot.check.channel_access import fetch_server, lacking, pose_channels
from bot.check.findings import Finding, fail, ok, warn
from bot.check.permissions import invite_url, privileged_intents, switched_on
from bot.domain.server_rules import ServerSettings

AREA = "discord"
PORTAL = "https://discord.com/developers/applications"
# Servers looked at one by one (each costs three requests), and channel lines per server.
MAX_SERVERS = 25
MAX_CHANNEL_LINES = 10
# What is compared between the registered commands and this version's.
COMMAND_KEYS = (
    "name",
    "type",
    "description",
    "options",
    "name_localizations",
    "description_localizations",
    "default_member_permissions",
    "nsfw",
)
MISSING_ACCESS = 50001

RulesOf = Callable[[int], Awaitable[ServerSettings | None]]
# Called when the registered commands are not this version's (see `command_findings`).
Forget = Callable[[], Awaitable[None]]


async def discord_findings(
    token: str,
    *,
    intents: discord.Intents,
    commands: list[dict[str, Any]],
    guild_id: int | None,
    rules_of: RulesOf,
    forget_registration: Forget,
) -> list[Finding]:
    """Every Discord finding. `commands`: this version's, as a sync sends them; `guild_id`:
    where they are registered (None: globally); `rules_of`: a server's rules (None: unknown);
    `forget_registration`: makes the bot's next start register its commands again."""
    client = discord.Client(intents=discord.Intents.none())
    try:
        try:
            await client.login(token)
        except discord.LoginFailure:
            return [token_refused()]
        except (aiohttp.ClientError, discord.HTTPException) as error:
            return [
                fail(AREA, f"cannot reach Discord ({error})", "check the network, then try again")
            ]
        application = client.application
        assert application is not None
        assert client.user is not None
        findings = [
            ok(AREA, f"logged in as {client.user} (id {client.user.id})"),
            ok(AREA, f"application {application.name!r} (id {application.id})"),
            ok(AREA, f"invite URL: {invite_url(application.id)}"),
            *intent_findings(intents, application.flags),
        ]
        for part in (
            command_findings(client, application.id, guild_id, commands, forget_registration),
            server_findings(client, application.id, rules_of),
        ):
            try:
                findings += await part
            except (aiohttp.ClientError, discord.HTTPException) as error:
                findings.append(_refused(error))
        return findings
    finally:
        await client.close()


def _refused(error: Exception) -> Finding:
    """An answer no finding foresaw (Discord down, a permission only an admin has)."""
    detail = (
        f"{error.status} {error.text}" if isinstance(error, discord.HTTPException) else str(error)
    )
    return fail(
        AREA, f"Discord answered {detail}", "run the check again; if it stays, see the line"
    )


def token_refused() -> Finding:
    return fail(
        AREA,
        "Discord refused DISCORD_TOKEN (401): it is wrong or was reset",
        f"copy a new one from {PORTAL} > your application > Bot > Reset Token into DISCORD_TOKEN",
    )


def intent_findings(intents: discord.Intents, flags: discord.ApplicationFlags) -> list[Finding]:
    asked = privileged_intents(intents)
    on = switched_on(flags)
    if asked:
        off = [name for name in asked if name not in on]
        if off:
            return [
                fail(
                    AREA,
                    f"the bot asks for the {', '.join(off)} intent(s), switched off for the "
                    "application",
                    f"switch them on at {PORTAL} > Bot > Privileged Gateway Intents",
                )
            ]
        return [ok(AREA, f"privileged intents asked for and switched on: {', '.join(asked)}")]
    if on:
        return [
            warn(
                AREA,
                f"no privileged intent is needed, yet these are switched on: {', '.join(on)}",
                f"switch them off at {PORTAL} > Bot > Privileged Gateway Intents (nothing uses "
                "them)",
            )
        ]
    return [ok(AREA, "no privileged intent needed, none switched on")]


async def command_findings(
    client: discord.Client,
    application_id: int,
    guild_id: int | None,
    commands: list[dict[str, Any]],
    forget_registration: Forget,
) -> list[Finding]:
    where = "globally" if guild_id is None else f"in server {guild_id} (DISCORD_GUILD_ID)"
    if guild_id is None:
        route = Route("GET", "/applications/{app}/commands", app=application_id)
    else:
        route = Route(
            "GET", "/applications/{app}/guilds/{guild}/commands", app=application_id, guild=guild_id
        )
    try:
        registered = await client.http.request(route, params={"with_localizations": "true"})
    except discord.Forbidden as error:
        if error.code != MISSING_ACCESS:
            raise
        return [
            fail(
                AREA,
                f"commands cannot be registered {where}: the bot was invited without the "
                "applications.commands scope",
                f"invite it again with {invite_url(application_id)}",
            )
        ]
    differences = compare_commands(commands, registered) if registered else []
    if registered and not differences:
        return [ok(AREA, f"{len(commands)} command(s) registered {where}, this version's")]
    # A start registers nothing when the database says it registered these very commands
    # already: that record is forgotten, so that the fix below works.
    await forget_registration()
    found = (
        f"the commands registered {where} are not this version's: " + "; ".join(differences)
        if registered
        else f"no command registered {where}"
    )
    return [fail(AREA, found, "(re)start the bot (BOT_ROLE all or gateway): it registers its own")]


def compare_commands(local: list[dict[str, Any]], remote: list[dict[str, Any]]) -> list[str]:
    """What differs, one short phrase a command: missing, changed, or registered but unknown."""

    def key(command: dict[str, Any]) -> tuple[str, int]:
        return command["name"], int(command.get("type") or 1)

    theirs = {key(command): command for command in remote}
    ours = {key(command): command for command in local}
    differences = []
    for name_type, command in ours.items():
        other = theirs.get(name_type)
        if other is None:
            differences.append(f"/{name_type[0]} missing")
        elif _comparable(command) != _comparable(other):
            differences.append(f"/{name_type[0]} changed")
    differences += [
        f"/{name} unknown to this version" for name, kind in theirs if (name, kind) not in ours
    ]
    return differences


def _comparable(command: dict[str, Any]) -> Any:
    return _without_empties({name: command.get(name) for name in COMMAND_KEYS if name != "type"})


def _without_empties(value: Any) -> Any:
    """Discord leaves out what is empty or false (`required: false`, no localizations), and
    may send a bound of 1.0 as 1: both sides are compared in that one form."""
    if isinstance(value, dict):
        kept = {name: _without_empties(item) for name, item in value.items()}
        return {name: item for name, item in kept.items() if item not in (None, False, [], {}, "")}
    if isinstance(value, list):
        return [_without_empties(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


async def server_findings(
    client: discord.Client, application_id: int, rules_of: RulesOf
) -> list[Finding]:
    guilds = await client.http.get_guilds(limit=200)
    if not guilds:
        return [
            warn(AREA, "the bot is in no server yet", f"invite it: {invite_url(application_id)}")
        ]
    findings = [ok(AREA, f"in {len(guilds)} server(s)")]
    for partial in guilds[:MAX_SERVERS]:
        try:
            findings += await _one_server(client, partial, rules_of)
        except discord.HTTPException as error:
            findings.append(
                warn(
                    AREA,
                    f"{partial['name']}: its channels cannot be read ({error.status} {error.text})",
                    f"invite the bot again with {invite_url(application_id)}",
                )
            )
    if len(guilds) > MAX_SERVERS:
        findings.append(ok(AREA, f"{len(guilds) - MAX_SERVERS} more server(s) not looked at"))
    return findings


async def _one_server(
    client: discord.Client, partial: dict[str, Any], rules_of: RulesOf
) -> list[Finding]:
    guild = await fetch_server(client, int(partial["id"]), partial["name"])
    rules = await rules_of(guild.id)
    if rules is not None and not rules.enabled:
        return [ok(AREA, f"{guild.name}: /pose is switched off there (/admin)")]
    allowed = rules.channels if rules is not None else ()
    lacking_here = lacking(guild, allowed)
    fix = "Server Settings > Roles (or the channel's Permissions): allow it for the bot's role"
    findings = [
        fail(AREA, f"{guild.name} #{channel.name}: the bot lacks {', '.join(gaps)}", fix)
        for channel, gaps in lacking_here[:MAX_CHANNEL_LINES]
    ]
    if len(lacking_here) > MAX_CHANNEL_LINES:
        findings.append(
            fail(
                AREA,
                f"{guild.name}: {len(lacking_here) - MAX_CHANNEL_LINES} more channel(s) alike",
                fix,
            )
        )
    if not lacking_here:
        count = pose_channels(guild, allowed)
        findings.append(
            ok(AREA, f"{guild.name}: every permission needed in its {count} /pose channel(s)")
        )
    return findings
