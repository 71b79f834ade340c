"""Runs the bot exactly as `python -m bot` does, but with discord.py pointed at a fake Discord.

Only the library's addresses change (from FAKE_DISCORD_URL); the bot's own code is untouched.
Used by the tests that signal a real bot process.
"""

from __future__ import annotations

import os
import sys

from bot.__main__ import main
from tests.fake_discord import point_discord_py_at

if __name__ == "__main__":
    point_discord_py_at(os.environ["FAKE_DISCORD_URL"])
    sys.exit(main())
