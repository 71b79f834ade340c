"""What users read for each image size, each preset and each kind of stored image: one marked
table each, translated where it is shown."""

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
# The presets (bot/domain/presets.py), in menus and on the result's embed.
EXPRESSION_NAMES = {
    "happy": mark("Happy"),
    "sad": mark("Sad"),
    "angry": mark("Angry"),
    "surprised": mark("Surprised"),
    "scared": mark("Scared"),
    "thinking": mark("Thinking"),
    "determined": mark("Determined"),
    "sleepy": mark("Sleepy"),
}
CAMERA_NAMES = {
    "close-up": mark("Close-up"),
    "portrait": mark("Portrait"),
    "full-body": mark("Full body"),
    "low-angle": mark("Low angle"),
    "high-angle": mark("High angle"),
    "from-behind": mark("From behind"),
    "three-quarter": mark("Three-quarter view"),
    "wide": mark("Wide shot"),
}
# Kinds of stored images, as /admin storage lists them (bot/storage/retention.py's KINDS).
IMAGE_KINDS = {
    CHARACTER: mark("characters posed"),
    POSE: mark("pose references"),
    RESULT: mark("results"),
    "saved": mark("saved characters"),
    "story": mark("story panels"),
}
