"""The setup check (`python -m bot check`): each part of the bot's setup looked at, and one line
per finding saying what to fix. `run.py` runs the parts; each other module checks one part."""
