"""`python -m bot` as a test's or the benchmark's child process (tests/bot_process.py starts it),
with discord.py pointed at the fake Discord named by FAKE_DISCORD_URL. It loads the bot and
discord.py's addresses alone, so that the process measures as the bot does in production."""

from __future__ import annotations

import os
import sys

from tests.discord_address import point_discord_py_at

if __name__ == "__main__":
    from bot.__main__ import main

    point_discord_py_at(os.environ["FAKE_DISCORD_URL"])
    sys.exit(main())
