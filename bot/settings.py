"""The bot's configuration: one frozen object built once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from dotenv import find_dotenv, load_dotenv

T = TypeVar("T")

MODES = ("sync", "async")
IMAGE_INPUTS = ("base64", "url")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# all: one process does everything. gateway: answers Discord and stores requests, runs no API
# call. worker: no gateway session; runs jobs and posts their results over REST.
ROLES = ("all", "gateway", "worker")
# Below this the process's own memory (bot/memory.py) leaves too little room for images.
MIN_MEMORY_BUDGET_MB = 256


class SettingsError(Exception):
    """A missing or malformed variable; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Settings:
    discord_token: str = field(repr=False)
    segmind_api_key: str = field(repr=False)
    segmind_base_url: str = "https://api.segmind.com"
    segmind_model: str = "consistent-character-AI-neolemon-v3"
    segmind_mode: str = "sync"
    segmind_image_input: str = "base64"
    user_cooldown_seconds: float = 60.0
    segmind_max_concurrency: int = 4
    segmind_max_wait_seconds: float = 300.0
    # A generation takes ~37 s; anything past this is treated as a timeout.
    segmind_timeout_seconds: float = 180.0
    segmind_poll_seconds: float = 2.0
    # Requests per minute the plan allows (5 on the free plan): pacing them avoids 429s.
    segmind_rpm: int = 5
    user_max_queued: int = 3
    user_max_characters: int = 25
    user_max_stories: int = 10
    story_max_panels: int = 40
    # Spend: the price per generation (x-cost replaces it when the API sends one), and caps
    # over a rolling 24 hours; None means no overall budget / no credits warning.
    cost_per_generation_usd: float = 0.58
    user_daily_limit: int = 10
    daily_budget_usd: float | None = None
    low_credits_warning: float | None = None
    # None: SQLite in ./posebot.db. Heroku Postgres hands out postgres://… here.
    database_url: str | None = field(default=None, repr=False)
    discord_guild_id: int | None = None
    # A channel where owner alerts (credits ran out, key refused) are posted too.
    alert_channel_id: int | None = None
    log_level: str = "INFO"
    bot_role: str = "all"
    # A process that stops renewing its jobs (killed, frozen, cut off from the database) loses
    # them to another after this long.
    job_lease_seconds: float = 15.0
    # On SIGTERM, how long to keep answering Discord while waiting for the next process's
    # gateway to be up (Heroku starts it at the same moment), so that no interaction finds
    # nobody listening.
    shutdown_handover_seconds: float = 20.0
    # What is kept, and for how long (days; fractions allowed): a delivered job's images after
    # its last use, and job rows (without images) for /usage and the caps. A sweep lets go of
    # the rest every STORAGE_SWEEP_SECONDS, and keeps the database within STORAGE_BUDGET_MB
    # (None: no budget) by deleting the oldest images of delivered jobs first.
    image_retention_days: float = 7.0
    history_retention_days: float = 30.0
    storage_sweep_seconds: float = 600.0
    storage_budget_mb: float | None = None
    # The memory the process may take (the dyno's: 512 MB on Basic and Standard-1X); images
    # are downloaded and decoded within what is left once the process's own is set aside.
    memory_budget_mb: float = 512.0
    # Discord sharding, for a bot in thousands of servers: how many shards in all, and which of
    # them this process runs (None: all of them).
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @property
    def runs_jobs(self) -> bool:
        return self.bot_role in ("all", "worker")

    @property
    def has_gateway(self) -> bool:
        return self.bot_role in ("all", "gateway")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `env` (default: the process environment after `.env`)."""
        if env is None:
            # .env in the working directory; override=False: the platform's variables win.
            load_dotenv(find_dotenv(usecwd=True), override=False)
            env = os.environ
        reader = _Reader(env)
        return cls(
            discord_token=reader.required(
                "DISCORD_TOKEN", "the bot token from the Developer Portal"
            ),
            segmind_api_key=reader.required("SEGMIND_API_KEY", "your key from segmind.com"),
            segmind_base_url=reader.get("SEGMIND_BASE_URL", cls.segmind_base_url, _http_url),
            segmind_model=reader.get("SEGMIND_MODEL", cls.segmind_model, _slug),
            segmind_mode=reader.get("SEGMIND_MODE", cls.segmind_mode, _one_of(MODES)),
            segmind_image_input=reader.get(
                "SEGMIND_IMAGE_INPUT", cls.segmind_image_input, _one_of(IMAGE_INPUTS)
            ),
            user_cooldown_seconds=reader.get(
                "USER_COOLDOWN_SECONDS", cls.user_cooldown_seconds, _number(0, 86_400)
            ),
            segmind_max_concurrency=reader.get(
                "SEGMIND_MAX_CONCURRENCY", cls.segmind_max_concurrency, _integer(1, 64)
            ),
            segmind_max_wait_seconds=reader.get(
                "SEGMIND_MAX_WAIT_SECONDS", cls.segmind_max_wait_seconds, _number(0, 3_600)
            ),
            segmind_timeout_seconds=reader.get(
                "SEGMIND_TIMEOUT_SECONDS", cls.segmind_timeout_seconds, _number(1, 840)
            ),
            segmind_poll_seconds=reader.get(
                "SEGMIND_POLL_SECONDS", cls.segmind_poll_seconds, _number(0.01, 60)
            ),
            segmind_rpm=reader.get("SEGMIND_RPM", cls.segmind_rpm, _integer(1, 10_000)),
            user_max_queued=reader.get("USER_MAX_QUEUED", cls.user_max_queued, _integer(1, 1000)),
            user_max_characters=reader.get(
                "USER_MAX_CHARACTERS", cls.user_max_characters, _integer(1, 1000)
            ),
            user_max_stories=reader.get(
                "USER_MAX_STORIES", cls.user_max_stories, _integer(1, 1000)
            ),
            story_max_panels=reader.get(
                "STORY_MAX_PANELS", cls.story_max_panels, _integer(1, 1000)
            ),
            database_url=reader.get("DATABASE_URL", None, _database_url, secret=True),
            cost_per_generation_usd=reader.get(
                "COST_PER_GENERATION_USD", cls.cost_per_generation_usd, _dollars
            ),
            user_daily_limit=reader.get(
                "USER_DAILY_LIMIT", cls.user_daily_limit, _integer(1, 100_000)
            ),
            daily_budget_usd=reader.get("DAILY_BUDGET_USD", None, _dollars),
            low_credits_warning=reader.get("LOW_CREDITS_WARNING", None, _dollars),
            discord_guild_id=reader.get("DISCORD_GUILD_ID", None, _snowflake),
            alert_channel_id=reader.get("ALERT_CHANNEL_ID", None, _snowflake),
            log_level=reader.get("LOG_LEVEL", cls.log_level, _one_of(LOG_LEVELS, upper=True)),
            bot_role=reader.get("BOT_ROLE", cls.bot_role, _one_of(ROLES)),
            job_lease_seconds=reader.get(
                "JOB_LEASE_SECONDS", cls.job_lease_seconds, _number(1, 300)
            ),
            image_retention_days=reader.get(
                "IMAGE_RETENTION_DAYS", cls.image_retention_days, _days(0.0001, 3650)
            ),
            # At least a day: the caps and /usage count the last 24 hours from these rows.
            history_retention_days=reader.get(
                "HISTORY_RETENTION_DAYS", cls.history_retention_days, _days(1, 3650)
            ),
            storage_sweep_seconds=reader.get(
                "STORAGE_SWEEP_SECONDS", cls.storage_sweep_seconds, _number(1, 86_400)
            ),
            storage_budget_mb=reader.get("STORAGE_BUDGET_MB", None, _megabytes),
            memory_budget_mb=reader.get(
                "MEMORY_BUDGET_MB", cls.memory_budget_mb, _megabytes_from(MIN_MEMORY_BUDGET_MB)
            ),
            shutdown_handover_seconds=reader.get(
                "SHUTDOWN_HANDOVER_SECONDS", cls.shutdown_handover_seconds, _number(0, 25)
            ),
            **_shards(reader),
        )


class _Reader:
    """Reads variables and turns every parse failure into one SettingsError naming the variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def required(self, name: str, what: str) -> str:
        value = self._env.get(name, "").strip()
        if not value:
            raise SettingsError(f"{name} is not set: put {what} in the environment or in .env")
        return value

    def get(self, name: str, default: T, parse: Callable[[str], T], *, secret: bool = False) -> T:
        raw = self._env.get(name, "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as error:
            shown = name if secret else f"{name}={raw!r}"  # a URL may carry a password
            raise SettingsError(f"{shown} is not valid: {error}") from None


def _shards(reader: _Reader) -> dict[str, object]:
    count = reader.get("SHARD_COUNT", None, _integer(1, 100_000))
    ids = reader.get("SHARD_IDS", None, _id_list)
    if ids is not None and count is None:
        raise SettingsError("SHARD_IDS needs SHARD_COUNT: the number of shards in all")
    if ids is not None and count is not None and max(ids) >= count:
        raise SettingsError(
            f"SHARD_IDS={','.join(map(str, ids))!r} is not valid: "
            f"shard ids go from 0 to SHARD_COUNT - 1 ({count - 1})"
        )
    return {"shard_count": count, "shard_ids": ids}


def _id_list(raw: str) -> tuple[int, ...]:
    try:
        ids = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
    except ValueError:
        raise ValueError("expected shard ids separated by commas, such as 0,1") from None
    if not ids or min(ids) < 0:
        raise ValueError("expected shard ids separated by commas, such as 0,1")
    return ids


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:
            raise ValueError(f"expected a number of seconds from {low:g} to {high:g}")
        return value

    return parse


def _days(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number of days from {low:g} to {high:g}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number of days from {low:g} to {high:g}")
        return value

    return parse


def _megabytes(raw: str) -> float:
    return _megabytes_from(1)(raw)


def _megabytes_from(low: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.upper().removesuffix("MB"))
        except ValueError:
            raise ValueError("expected a size in megabytes, such as 700") from None
        if not low <= value <= 10_000_000:
            raise ValueError(f"expected a size in megabytes from {low:g} to 10000000")
        return value

    return parse


def _integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return parse


def _one_of(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _dollars(raw: str) -> float:
    try:
        value = float(raw.removeprefix("$"))
    except ValueError:
        raise ValueError("expected an amount in US dollars, such as 0.58") from None
    if not 0 <= value <= 1_000_000:
        raise ValueError("expected an amount in US dollars from 0 to 1000000")
    return value


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// address")
    return raw.rstrip("/")


def _database_url(raw: str) -> str:
    if not raw.startswith(("sqlite:///", "postgres://", "postgresql://")):
        raise ValueError(
            "expected sqlite:///file.db, sqlite:////absolute/file.db, postgres://… "
            "or postgresql://…"
        )
    return raw


def _slug(raw: str) -> str:
    if not all(ch.isalnum() or ch in "-_." for ch in raw):
        raise ValueError("expected a model name such as consistent-character-AI-neolemon-v3")
    return raw


def _snowflake(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError("expected a server id (digits only; Developer Mode > Copy Server ID)")
    return int(raw)
