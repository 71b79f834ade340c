"""A finding of the setup check: what holds or what is wrong, and the fix, in one line."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Level(Enum):
    OK = "ok"
    # Worth knowing, but the bot runs: the check still exits 0.
    WARN = "warn"
    # Something the bot needs does not hold: the check exits 1.
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    level: Level
    area: str  # "config", "discord", "database", "segmind"
    text: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix else ""
        return f"{self.level.value:<4} {self.area}: {self.text}{fix}"


def ok(area: str, text: str) -> Finding:
    return Finding(Level.OK, area, text)


def warn(area: str, text: str, fix: str) -> Finding:
    return Finding(Level.WARN, area, text, fix)


def fail(area: str, text: str, fix: str) -> Finding:
    return Finding(Level.FAIL, area, text, fix)


def all_hold(findings: list[Finding]) -> bool:
    return not any(finding.level is Level.FAIL for finding in findings)
