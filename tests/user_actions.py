"""What a user does and sees in Discord, for the end-to-end tests: type /pose, read the replies."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.fake_discord import FakeDiscord, FakeInteraction, FakeMessage

OPTION_TYPES = {str: 3, int: 4, bool: 5, float: 10}


def png(size: tuple[int, int] = (300, 400), colour: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


async def pose(
    discord_api: FakeDiscord,
    *,
    user: dict[str, Any] | None = None,
    character: bytes | None = None,
    filename: str = "hero.png",
    prompt: str = "the hero, sitting on a rock, waving",
    pose_image: bytes | None = None,
    attachment_size_limit: int = 10 * 1024 * 1024,
    **options: Any,
) -> FakeInteraction:
    """Type /pose as a user would: attach the character, describe the pose."""
    attachment = discord_api.add_attachment(filename, png() if character is None else character)
    sent = [
        {"name": "character", "type": 11, "value": attachment["id"]},
        {"name": "prompt", "type": 3, "value": prompt},
    ]
    attachments = [attachment]
    if pose_image is not None:
        pose_attachment = discord_api.add_attachment("pose.png", pose_image)
        sent.append({"name": "pose", "type": 11, "value": pose_attachment["id"]})
        attachments.append(pose_attachment)
    for name, value in options.items():
        sent.append({"name": name, "type": OPTION_TYPES[type(value)], "value": value})
    return await discord_api.invoke(
        "pose",
        sent,
        user=user,
        attachments=attachments,
        attachment_size_limit=attachment_size_limit,
    )


def result_of(interaction: FakeInteraction) -> FakeMessage | None:
    """The public message carrying the image, if it was posted as a followup."""
    for message in interaction.followups:
        if message.files and not message.ephemeral:
            return message
    return None


def status_of(interaction: FakeInteraction) -> str:
    """What the requester privately sees: the deferred message, or an immediate reply."""
    if interaction.original is not None:
        return interaction.original.content or ""
    for kind, data, _ in interaction.callbacks:
        if kind == 4:
            return data.get("content", "")
    return ""


def private_reply(interaction: FakeInteraction) -> bool:
    if interaction.original is not None:
        return interaction.original.ephemeral
    return any(kind == 4 and data.get("flags", 0) & 64 for kind, data, _ in interaction.callbacks)


async def finished(interaction: FakeInteraction, timeout: float = 20) -> str:
    """Wait until the job's private status is final; return it."""

    def done(i: FakeInteraction) -> bool:
        text = status_of(i)
        return bool(text) and not text.startswith(("🔍", "⏳", "🎨"))

    await interaction.wait_for(done, timeout=timeout)
    return status_of(interaction)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
