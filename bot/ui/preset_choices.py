"""The expression and camera options of a request, as every command that offers them declares
them (/pose; a command taking "the same options as /pose" reuses these)."""

from __future__ import annotations

from discord import app_commands
from discord.app_commands import locale_str

from bot.ui.names import CAMERA_NAMES, EXPRESSION_NAMES

# The names are translated by the command translator, like every other choice.
EXPRESSION_OPTIONS = [
    app_commands.Choice(name=locale_str(label), value=key)
    for key, label in EXPRESSION_NAMES.items()
]
CAMERA_OPTIONS = [
    app_commands.Choice(name=locale_str(label), value=key) for key, label in CAMERA_NAMES.items()
]
EXPRESSION_DESCRIPTION = locale_str("A facial expression for the character (optional)")
CAMERA_DESCRIPTION = locale_str("A camera angle or framing (optional)")
