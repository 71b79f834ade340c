"""Log lines an operator can search: `at=job_end outcome=failed …` as logfmt key=value pairs,
which Heroku's log drains (Papertrail, Better Stack) and `grep` take as they are."""

from __future__ import annotations

import logging

# Read by whoever searches the logs, not by the bot: one logger, so its level is one setting.
log = logging.getLogger("bot.events")

Value = str | int | float | bool | None


def value_text(value: Value) -> str:
    """One value as logfmt writes it: bare when it can be, else in double quotes."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    text = str(value)
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    # Quoted, with what would end the value or the line escaped: one event, one line.
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def line(at: str, **fields: Value) -> str:
    """`at=<at>` and the fields in the order given; a None value is written empty (`key=`),
    so that every line of a kind has the same keys."""
    pairs = [f"at={value_text(at)}"]
    pairs.extend(f"{key}={value_text(value)}" for key, value in fields.items())
    return " ".join(pairs)


def event(at: str, **fields: Value) -> None:
    """Log one event as a logfmt line (INFO, on the `bot.events` logger)."""
    log.info("%s", line(at, **fields))
