"""The configuration part of the setup check: every variable parsed, and names that look like
the bot's but that it does not read (a typo, a variable renamed) pointed out."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping

from bot.check.findings import Finding, fail, ok, warn
from bot.settings import Settings, SettingsError

AREA = "config"
# Names with these prefixes are the bot's own: one it does not know is a mistake.
BOT_PREFIXES = ("POSEBOT_", "SEGMIND_", "DISCORD_")
# How alike a name must be to a known one to be taken for a typo of it (difflib's ratio):
# SEGMIND_APIKEY or DATABASE_URI are; TEST_DATABASE_URL, another program's, is not.
TYPO_LIKENESS = 0.85


class _Recording(dict[str, str]):
    """An environment that notes every name looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(key)
        return super().get(key, default)


def known_names() -> frozenset[str]:
    """Every variable the settings read, as `Settings.from_env` asks for them (so a new
    setting is known here the moment it is read)."""
    env = _Recording({"DISCORD_TOKEN": "x", "SEGMIND_API_KEY": "x"})
    Settings.from_env(env)
    return frozenset(env.asked)


def read_settings(env: Mapping[str, str] | None = None) -> tuple[Settings | None, list[Finding]]:
    """The settings (None when they cannot be read) and a finding for each variable that
    cannot be read; without `env`, the process environment after `.env`, as the bot reads it."""
    try:
        return Settings.from_env(env), []
    except SettingsError as error:
        first = error
    # The settings stop at the first mistake: each one found is left out in turn (its default
    # taken instead, or a stand-in for a required one) to find the next, so that every
    # mistake is named at once.
    remaining = dict(os.environ if env is None else env)
    findings = []
    named: set[str] = set()
    error: SettingsError | None = first
    while error is not None:
        findings.append(fail(AREA, str(error), "set it as the line says"))
        name = _named_in(str(error))
        if name in named:
            break
        named.add(name)
        if name in remaining:
            del remaining[name]
        else:
            remaining[name] = "given"  # a required variable not set: stand in for it
        try:
            Settings.from_env(remaining)
            error = None
        except SettingsError as next_error:
            error = next_error
    return None, findings


def _named_in(message: str) -> str:
    """The variable a SettingsError names: its first word, before any `=`."""
    return message.split(" ", 1)[0].split("=", 1)[0]


def unknown_names(env: Mapping[str, str]) -> list[Finding]:
    """A finding for each name set that the bot does not read but that looks like its own."""
    known = known_names()
    findings = []
    for name in sorted(env):
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=TYPO_LIKENESS)
        if close:
            findings.append(
                warn(AREA, f"{name} is not read by the bot", f"did you mean {close[0]}?")
            )
        elif name.startswith(BOT_PREFIXES):
            findings.append(
                warn(
                    AREA,
                    f"{name} is not read by the bot",
                    "remove it, or see the README's configuration table for the right name",
                )
            )
    return findings


def configuration_findings(env: Mapping[str, str], settings: Settings | None) -> list[Finding]:
    """Unknown names, and a line saying how many of the bot's variables are set and valid."""
    findings = unknown_names(env)
    if settings is not None:
        given = sorted(name for name in known_names() if env.get(name, "").strip())
        findings.insert(0, ok(AREA, f"{len(given)} of the bot's variables set, every one valid"))
        if settings.database_url is None and "DYNO" in env:
            findings.append(
                fail(
                    AREA,
                    "DATABASE_URL is not set on Heroku: the SQLite file would be lost at "
                    "every restart",
                    "heroku addons:create heroku-postgresql:essential-0",
                )
            )
    return findings
