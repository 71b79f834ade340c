"""Configuration as an operator meets it: defaults, overrides and one clear line per mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError

REQUIRED = {"DISCORD_TOKEN": "token-value-123", "SEGMIND_API_KEY": "sg-key-456"}
ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_documented_table() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.segmind_base_url == "https://api.segmind.com"
    assert settings.segmind_model == "consistent-character-AI-neolemon-v3"
    assert (settings.segmind_mode, settings.segmind_image_input) == ("sync", "base64")
    assert settings.user_cooldown_seconds == 60
    assert settings.segmind_max_concurrency == 4
    assert settings.segmind_max_wait_seconds == 300
    assert settings.discord_guild_id is None
    assert settings.log_level == "INFO"
    assert (settings.segmind_rpm, settings.user_max_queued) == (5, 3)
    assert settings.database_url is None
    assert (settings.bot_role, settings.job_lease_seconds) == ("all", 15)
    assert (settings.shard_count, settings.shard_ids) == (None, None)
    assert (settings.image_retention_days, settings.history_retention_days) == (7, 30)
    assert (settings.storage_sweep_seconds, settings.storage_budget_mb) == (600, None)
    assert settings.memory_budget_mb == 512


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            **REQUIRED,
            "SEGMIND_BASE_URL": "http://127.0.0.1:9999/",
            "SEGMIND_MODEL": "other-model",
            "SEGMIND_MODE": "ASYNC",
            "SEGMIND_IMAGE_INPUT": "url",
            "USER_COOLDOWN_SECONDS": "15",
            "SEGMIND_MAX_CONCURRENCY": "2",
            "SEGMIND_MAX_WAIT_SECONDS": "30",
            "SEGMIND_TIMEOUT_SECONDS": "90",
            "SEGMIND_POLL_SECONDS": "0.5",
            "DISCORD_GUILD_ID": "123456789012345678",
            "LOG_LEVEL": "debug",
            "SEGMIND_RPM": "50",
            "USER_MAX_QUEUED": "5",
            "DATABASE_URL": "postgresql://bot@db:5432/jobs",
            "ALERT_CHANNEL_ID": "223456789012345678",
            "COST_PER_GENERATION_USD": "$0.60",
            "USER_DAILY_LIMIT": "4",
            "DAILY_BUDGET_USD": "12.5",
            "LOW_CREDITS_WARNING": "20",
            "BOT_ROLE": "Worker",
            "JOB_LEASE_SECONDS": "5",
            "SHARD_COUNT": "4",
            "SHARD_IDS": "3, 1",
            "IMAGE_RETENTION_DAYS": "0.5",
            "HISTORY_RETENTION_DAYS": "90",
            "STORAGE_SWEEP_SECONDS": "60",
            "STORAGE_BUDGET_MB": "700",
            "MEMORY_BUDGET_MB": "1024",
        }
    )
    assert settings.segmind_base_url == "http://127.0.0.1:9999"
    assert settings.segmind_model == "other-model"
    assert (settings.segmind_mode, settings.segmind_image_input) == ("async", "url")
    assert settings.user_cooldown_seconds == 15
    assert settings.segmind_max_concurrency == 2
    assert settings.segmind_max_wait_seconds == 30
    assert settings.segmind_timeout_seconds == 90
    assert settings.segmind_poll_seconds == 0.5
    assert settings.discord_guild_id == 123456789012345678
    assert settings.log_level == "DEBUG"
    assert (settings.segmind_rpm, settings.user_max_queued) == (50, 5)
    assert settings.database_url == "postgresql://bot@db:5432/jobs"
    assert settings.alert_channel_id == 223456789012345678
    assert (settings.cost_per_generation_usd, settings.user_daily_limit) == (0.60, 4)
    assert (settings.daily_budget_usd, settings.low_credits_warning) == (12.5, 20.0)
    assert (settings.bot_role, settings.runs_jobs, settings.has_gateway) == ("worker", True, False)
    assert settings.job_lease_seconds == 5
    assert (settings.shard_count, settings.shard_ids) == (4, (1, 3))
    assert (settings.image_retention_days, settings.history_retention_days) == (0.5, 90)
    assert (settings.storage_sweep_seconds, settings.storage_budget_mb) == (60, 700)
    assert settings.memory_budget_mb == 1024


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DISCORD_TOKEN", "", "DISCORD_TOKEN is not set"),
        ("SEGMIND_API_KEY", "  ", "SEGMIND_API_KEY is not set"),
        ("SEGMIND_MODE", "batch", "SEGMIND_MODE='batch' is not valid: expected one of sync, async"),
        ("SEGMIND_IMAGE_INPUT", "file", "expected one of base64, url"),
        ("USER_COOLDOWN_SECONDS", "soon", "USER_COOLDOWN_SECONDS='soon' is not valid"),
        ("USER_COOLDOWN_SECONDS", "-1", "from 0 to 86400"),
        ("SEGMIND_MAX_CONCURRENCY", "0", "whole number from 1 to 64"),
        ("SEGMIND_MAX_CONCURRENCY", "2.5", "whole number from 1 to 64"),
        ("SEGMIND_BASE_URL", "api.segmind.com", "http:// or https://"),
        ("DISCORD_GUILD_ID", "my-server", "digits only"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("SEGMIND_RPM", "0", "whole number from 1 to 10000"),
        ("DAILY_BUDGET_USD", "lots", "amount in US dollars"),
        ("USER_MAX_QUEUED", "many", "USER_MAX_QUEUED='many'"),
        ("DATABASE_URL", "mysql://root:hunter2@db/x", "DATABASE_URL is not valid: expected sqlite"),
        ("BOT_ROLE", "leader", "expected one of all, gateway, worker"),
        ("JOB_LEASE_SECONDS", "0", "JOB_LEASE_SECONDS='0' is not valid"),
        ("SHARD_COUNT", "none", "SHARD_COUNT='none'"),
        ("SHARD_IDS", "1", "SHARD_IDS needs SHARD_COUNT"),
        ("SHARD_IDS", "a,b", "SHARD_IDS='a,b' is not valid"),
        ("IMAGE_RETENTION_DAYS", "a week", "number of days from"),
        ("IMAGE_RETENTION_DAYS", "0", "IMAGE_RETENTION_DAYS='0' is not valid"),
        ("HISTORY_RETENTION_DAYS", "0.5", "number of days from 1 to 3650"),
        ("STORAGE_SWEEP_SECONDS", "0", "STORAGE_SWEEP_SECONDS='0' is not valid"),
        ("STORAGE_BUDGET_MB", "1GB", "size in megabytes"),
        ("MEMORY_BUDGET_MB", "200", "size in megabytes from 256"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env({**REQUIRED, variable: value})


def test_shard_ids_must_be_below_the_count() -> None:
    with pytest.raises(SettingsError, match="from 0 to SHARD_COUNT - 1"):
        Settings.from_env({**REQUIRED, "SHARD_COUNT": "2", "SHARD_IDS": "0,2"})


def test_secrets_stay_out_of_repr_and_errors() -> None:
    text = repr(Settings.from_env({**REQUIRED, "DATABASE_URL": "postgres://u:hunter2@db/x"}))
    assert "token-value-123" not in text
    assert "sg-key-456" not in text
    assert "hunter2" not in text
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**REQUIRED, "DATABASE_URL": "mysql://root:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)


def run_bot_process(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SEGMIND_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_start_up_with_a_bad_value_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_bot_process({**REQUIRED, "SEGMIND_MAX_CONCURRENCY": "lots"}, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SEGMIND_MAX_CONCURRENCY" in lines[0]
    assert "Traceback" not in result.stderr
    assert "sg-key-456" not in result.stderr


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DISCORD_TOKEN=from-file\nSEGMIND_API_KEY=from-file\nSEGMIND_MODE=async\n"
    )
    # The environment's bad value must win over the file's good one, and be named.
    result = run_bot_process({"SEGMIND_MODE": "turbo"}, tmp_path)
    assert result.returncode == 2
    assert "SEGMIND_MODE='turbo'" in result.stderr
    missing = run_bot_process({}, tmp_path / "..")
    assert missing.returncode == 2
    assert "DISCORD_TOKEN is not set" in missing.stderr


def test_an_unreachable_database_stops_start_up_with_one_line(tmp_path: Path) -> None:
    url = "postgresql://bot:hunter2@127.0.0.1:1/jobs"  # nothing listens on port 1
    result = run_bot_process({**REQUIRED, "DATABASE_URL": url}, tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stdout
    assert "cannot open the job store at postgresql://bot:***@127.0.0.1:1/jobs" in errors[0]
    assert "hunter2" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
