"""This version of the bot, as pyproject.toml names it, for the logs."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@functools.cache
def bot_version() -> str:
    """The checkout's version (Heroku and Docker run the bot from one), else the installed
    package's, else "unknown"."""
    try:
        with PYPROJECT.open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        pass
    # Only an installed package gets here: the metadata machinery is loaded for it alone.
    import importlib.metadata

    try:
        return importlib.metadata.version("posebot")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
