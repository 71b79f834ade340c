"""What users read for each image size and each kind of stored image: one marked table,
translated where it is shown."""

from __future__ import annotations

from bot.domain.translatable import mark
from bot.storage.job_store import CHARACTER, POSE, RESULT

# A size in running text (the result's card: "portrait 832×1216").
SIZE_NAMES = {
    "square": mark("square"),
    "portrait": mark("portrait"),
    "landscape": mark("landscape"),
}
# A size offered in a menu (/pose's size option, /settings), with its pixels.
SIZE_CHOICES = {
    "square": mark("Square (1024×1024)"),
    "portrait": mark("Portrait (832×1216)"),
    "landscape": mark("Landscape (1216×832)"),
}
# Kinds of stored images, as /admin storage lists them (bot/storage/retention.py's KINDS).
IMAGE_KINDS = {
    CHARACTER: mark("characters posed"),
    POSE: mark("pose references"),
    RESULT: mark("results"),
    "saved": mark("saved characters"),
    "story": mark("story panels"),
}
