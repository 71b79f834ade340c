"""The deploy files (app.json, Dockerfile, docker-compose.yml, render.yaml, railway.json) offer
every setting the bot reads, never give a secret a default, agree with the Procfile, and have
the shape each host documents; checked here, where no container can run."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path

import pytest

from bot.posebot import SHUTDOWN_GRACE_SECONDS
from bot.settings import Settings, SettingsError
from tests import dockerfile, yaml_subset

ROOT = Path(__file__).resolve().parents[2]
# Variables a host sets itself rather than the person deploying: Heroku Postgres sets
# DATABASE_URL, and so do docker-compose.yml and render.yaml, each from its own database.
SET_BY_THE_DATABASE = {"DATABASE_URL"}
# In .env.example for docker-compose.yml alone, which gives it to its PostgreSQL.
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}
# app.json's keys and Heroku's dyno sizes (devcenter.heroku.com, "app.json Schema", "Dyno Types").
APP_JSON_KEYS = {
    "name", "description", "keywords", "website", "repository", "logo", "success_url",
    "scripts", "env", "formation", "addons", "buildpacks", "environments", "stack", "image",
}  # fmt: skip
APP_JSON_ENV_KEYS = {"description", "value", "required", "generator"}
DYNO_SIZES = {"eco", "basic", "standard-1x", "standard-2x", "performance-m", "performance-l"}


class _RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name the settings look up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        # Mapping.get comes through here too, found or not.
        self.read.add(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _settings_variables() -> tuple[set[str], set[str], set[str]]:
    """Every variable bot/settings.py reads, the required ones, and the secrets."""
    given = {"DISCORD_TOKEN": "token", "SEGMIND_API_KEY": "key"}
    env = _RecordingEnv(given)
    Settings.from_env(env)
    # Every other variable was missing and start-up went on: only these can be required.
    required = set()
    for name in given:
        try:
            Settings.from_env({key: value for key, value in given.items() if key != name})
        except SettingsError:
            required.add(name)
    # A secret is a field kept out of repr; its variable is its name in capitals.
    secrets = {field.name.upper() for field in fields(Settings) if not field.repr}
    assert secrets <= env.read
    return env.read, required, secrets


VARIABLES, REQUIRED, SECRETS = _settings_variables()


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def _app_json() -> dict[str, object]:
    return json.loads((ROOT / "app.json").read_text())


def _instructions() -> list[dockerfile.Instruction]:
    return dockerfile.parse((ROOT / "Dockerfile").read_text())


def _compose() -> dict[str, object]:
    loaded = yaml_subset.load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name not in pairs, f"{name} is given twice in .env.example"
            pairs[name] = value
    return pairs


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, f"{duration!r} is not a duration such as 30s"
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def test_the_settings_are_found() -> None:
    # What the other tests compare against: a broken reading would make them all pass.
    assert {"DISCORD_TOKEN", "SEGMIND_API_KEY", "DATABASE_URL", "MEMORY_BUDGET_MB"} <= VARIABLES
    assert len(VARIABLES) >= 30
    assert {"DISCORD_TOKEN", "SEGMIND_API_KEY"} == REQUIRED
    assert {"DISCORD_TOKEN", "SEGMIND_API_KEY", "DATABASE_URL"} <= SECRETS


def test_the_heroku_button_asks_for_every_setting_and_prefills_no_secret() -> None:
    env = _app_json()["env"]
    assert isinstance(env, dict)
    assert set(env) == VARIABLES - SET_BY_THE_DATABASE
    for name, entry in env.items():
        assert isinstance(entry, dict), name
        assert set(entry) <= APP_JSON_ENV_KEYS, name
        assert isinstance(entry["description"], str) and entry["description"].strip(), name
        assert entry.get("required") is (name in REQUIRED), name
        assert isinstance(entry.get("value", ""), str), name
        if name in SECRETS:
            assert "value" not in entry and "generator" not in entry, name
    # The values it does give are ones the bot accepts.
    given = {name: entry["value"] for name, entry in env.items() if "value" in entry}
    Settings.from_env({"DISCORD_TOKEN": "token", "SEGMIND_API_KEY": "key", **given})


def test_app_json_runs_the_procfile_worker_with_heroku_postgres() -> None:
    app = _app_json()
    assert set(app) <= APP_JSON_KEYS
    # The button's page shows at most these (app.json's own validator).
    assert 3 <= len(app["name"]) <= 30 and len(app["description"]) <= 140
    assert app["formation"] == {"worker": {"quantity": 1, "size": "basic"}}
    assert set(app["formation"]) <= set(_procfile())
    assert app["addons"] == [{"plan": "heroku-postgresql:essential-0"}]
    assert app["buildpacks"] == [{"url": "heroku/python"}]
    # The buildpack takes Python's version from .python-version, unless runtime.txt overrides it.
    assert (ROOT / ".python-version").is_file() and not (ROOT / "runtime.txt").exists()
    assert app["env"]["MEMORY_BUDGET_MB"]["value"] == "512"  # a Basic dyno's memory
    assert app["formation"]["worker"]["size"] in DYNO_SIZES


def test_env_example_lists_every_setting_and_no_secret_value() -> None:
    example = _env_example()
    assert set(example) >= VARIABLES
    assert set(example) <= VARIABLES | COMPOSE_ONLY
    for name in SECRETS | COMPOSE_ONLY:
        assert example[name] == "", name
    # Copied to .env with the two secrets filled in, it is a configuration the bot accepts.
    Settings.from_env({**example, "DISCORD_TOKEN": "token", "SEGMIND_API_KEY": "key"})


def test_the_readme_configuration_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE))
    assert listed == VARIABLES


def test_the_image_runs_the_procfile_worker_unprivileged_from_hashed_requirements() -> None:
    instructions = _instructions()
    keywords = [instruction.keyword for instruction in instructions]
    by_keyword = {instruction.keyword: instruction for instruction in instructions}
    python = (ROOT / ".python-version").read_text().strip()
    assert keywords[0] == "FROM"
    assert by_keyword["FROM"].arguments == f"python:{python}-slim"
    # Every requirement is installed from requirements.txt, each checked against its hash.
    installs = [i for i in instructions if i.keyword == "RUN" and "pip install" in i.arguments]
    assert len(installs) == 1
    words = shlex.split(installs[0].arguments)
    assert "--require-hashes" in words
    assert words[words.index("-r") + 1].endswith("/requirements.txt")
    # The process runs as someone other than root, from the last USER on.
    users = [i.arguments for i in instructions if i.keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    assert by_keyword["CMD"].exec_form() == shlex.split(_procfile()["worker"])
    assert by_keyword["STOPSIGNAL"].arguments == "SIGTERM"
    options, check = dockerfile.healthcheck_command(by_keyword["HEALTHCHECK"])
    assert check == ["python", "-m", "bot", "check", "--offline"]
    assert _seconds(options["timeout"]) <= _seconds(options["interval"])


def test_requirements_txt_pins_every_package_with_a_hash() -> None:
    text = (ROOT / "requirements.txt").read_text()
    requirements = re.split(r"\n(?=[a-z0-9])", text.split("\n", 1)[1].lstrip("#\n "))
    packages = [block for block in requirements if re.match(r"[a-z0-9]", block)]
    assert len(packages) >= 10
    for block in packages:
        assert re.match(r"[a-z0-9._-]+==\S+", block), block.splitlines()[0]
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_build_context_is_only_what_the_image_copies() -> None:
    patterns = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Everything is left out (.env, databases, .git) but what is let back in by name.
    assert patterns[0] == "*"
    let_in = {pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")}
    copied = {
        instruction.arguments.split()[0].rstrip("/")
        for instruction in _instructions()
        if instruction.keyword in ("COPY", "ADD")
    }
    assert let_in == copied
    assert all((ROOT / source).exists() for source in copied)


def test_compose_runs_the_bot_beside_postgres_16_in_a_volume() -> None:
    compose = _compose()
    services = compose["services"]
    bot, db = services["bot"], services["db"]
    assert bot["build"] == "."
    assert bot["restart"] in ("unless-stopped", "always")
    assert db["restart"] in ("unless-stopped", "always")
    # The bot's settings come from .env, whose template lists every one of them.
    assert bot["env_file"] == ".env"
    assert set(bot["environment"]) <= VARIABLES
    assert bot["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert _seconds(bot["stop_grace_period"]) > SHUTDOWN_GRACE_SECONDS
    assert db["image"].split(":")[1].split(".")[0] == "16"
    assert db["image"].split(":")[0] == "postgres"
    assert "test" in db["healthcheck"]
    volume, _, path = db["volumes"][0].partition(":")
    assert volume in compose["volumes"] and path == "/var/lib/postgresql/data"
    assert "ports" not in db
    url = bot["environment"]["DATABASE_URL"]
    assert re.fullmatch(
        r"postgresql://posebot:\$\{POSTGRES_PASSWORD:\?[^}]+\}@db:5432/posebot", url
    )


def test_compose_gives_no_secret_a_default() -> None:
    compose = _compose()
    for service in compose["services"].values():
        for name, value in service.get("environment", {}).items():
            if name in SECRETS | COMPOSE_ONLY:
                # ${NAME:?message}: Compose refuses to start while it is unset or empty.
                assert re.search(r"\$\{[A-Z_]+:\?[^}]+\}", value), name
                assert not re.search(r"\$\{[A-Z_]+:?-", value), name
    password = compose["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD:?")


def test_the_render_blueprint_runs_a_worker_with_its_postgres() -> None:
    blueprint = yaml_subset.load((ROOT / "render.yaml").read_text())
    assert isinstance(blueprint, dict)
    assert set(blueprint) <= {"services", "databases", "envVarGroups", "projects", "previews"}
    [worker] = blueprint["services"]
    [database] = blueprint["databases"]
    assert worker["type"] == "worker"
    assert worker["runtime"] == "docker"
    assert (ROOT / worker["dockerfilePath"]).is_file()
    assert worker["plan"] == "starter"
    env = {entry["key"]: entry for entry in worker["envVars"]}
    assert set(env) <= VARIABLES
    assert set(env) >= REQUIRED | SET_BY_THE_DATABASE
    assert env["DATABASE_URL"]["fromDatabase"] == {
        "name": database["name"],
        "property": "connectionString",
    }
    for name in SECRETS - SET_BY_THE_DATABASE:
        assert env[name] == {"key": name, "sync": False}, name
    for entry in env.values():
        assert len({"value", "sync", "fromDatabase"} & set(entry)) == 1, entry["key"]
        assert isinstance(entry.get("value", ""), str), entry["key"]
    given = {name: entry["value"] for name, entry in env.items() if "value" in entry}
    Settings.from_env({"DISCORD_TOKEN": "token", "SEGMIND_API_KEY": "key", **given})
    assert database["postgresMajorVersion"] == "16"


def test_railway_restarts_the_procfile_worker_on_failure() -> None:
    config = json.loads((ROOT / "railway.json").read_text())
    assert set(config) <= {"$schema", "build", "deploy"}
    assert config["build"]["builder"] == "DOCKERFILE"
    assert (ROOT / config["build"]["dockerfilePath"]).is_file()
    deploy = config["deploy"]
    assert deploy["startCommand"] == _procfile()["worker"]
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert isinstance(deploy["restartPolicyMaxRetries"], int)
    # Railway's wait between SIGTERM and SIGKILL: the bot's graceful shutdown must fit.
    assert isinstance(deploy["drainingSeconds"], int)
    assert deploy["drainingSeconds"] > SHUTDOWN_GRACE_SECONDS


@pytest.mark.parametrize(
    "text",
    [
        "key: |\n  block\n",
        "key: [a, b]\n",
        "key: on\n",
        "key: &anchor value\n",
        "a:\n  b: 1\n   c: 2\n",
        "a: 1\na: 2\n",
        "---\na: 1\n",
    ],
)
def test_yaml_beyond_what_the_reader_takes_is_refused(text: str) -> None:
    # A deploy file that grows past this reader fails here rather than being misread.
    with pytest.raises(yaml_subset.YamlSubsetError):
        yaml_subset.load(text)
