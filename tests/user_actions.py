"""What a user does and sees in Discord, for the end-to-end tests: type /pose, read the replies."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from bot.domain.images import prepare_reference
from bot.posebot import PoseBot
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage

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
    locale: str = "en-US",
    **options: Any,
) -> FakeInteraction:
    """Type /pose as a user would (in a client set to `locale`): attach the character,
    describe the pose."""
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
        locale=locale,
    )


def card(interaction: FakeInteraction) -> FakeMessage | None:
    """The job's public message: the interaction's reply, unless it was removed."""
    return interaction.original


def card_text(interaction: FakeInteraction) -> str:
    message = interaction.original
    return (message.content or "") if message is not None else ""


def result_of(interaction: FakeInteraction) -> FakeMessage | None:
    """The public result: the card, once it carries the image."""
    message = interaction.original
    return message if message is not None and message.files else None


def private_text(interaction: FakeInteraction) -> str | None:
    """The last thing said to the requester alone, if anything was."""
    for message in reversed(interaction.followups):
        if message.ephemeral and not message.deleted:
            return message.content or ""
    for kind, data, _ in interaction.callbacks:
        if kind == 4 and data.get("flags", 0) & 64:
            return data.get("content", "")
    return None


def taken(interaction: FakeInteraction) -> bool:
    """The request is in the queue (or past it): its card shows a place or more."""
    return card_text(interaction).startswith(("⏳", "🎨")) or result_of(interaction) is not None


def answered(interaction: FakeInteraction) -> bool:
    """The request was taken in or refused."""
    return taken(interaction) or private_text(interaction) is not None


async def accepted(interaction: FakeInteraction, timeout: float = 20) -> None:
    """Wait until the request is in the queue (or past it): its card shows a place or more."""
    await interaction.wait_for(answered, timeout)
    assert taken(interaction), f"refused: {private_text(interaction)!r}"


def ended(interaction: FakeInteraction) -> bool:
    """The request ended: a result, a private answer, or a cancelled card."""
    cancelled = card_text(interaction).startswith("🚫")
    return bool(result_of(interaction) or private_text(interaction) or cancelled)


async def outcome(interaction: FakeInteraction, timeout: float = 20) -> None:
    """Wait until the request ended: a result, a private answer, or a cancelled card."""
    await interaction.wait_for(ended, timeout=timeout)


async def delivered(interaction: FakeInteraction, timeout: float = 20) -> FakeMessage:
    await outcome(interaction, timeout)
    result = result_of(interaction)
    assert result is not None, f"no result; privately: {private_text(interaction)!r}"
    return result


async def refused(interaction: FakeInteraction, timeout: float = 20) -> str:
    """Wait for the private answer of a request that was not carried out; return it."""
    await outcome(interaction, timeout)
    text = private_text(interaction)
    assert text is not None, f"no private answer; card: {card_text(interaction)!r}"
    assert result_of(interaction) is None
    return text


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def private_reply(interaction: FakeInteraction, timeout: float = 20) -> FakeMessage:
    """The private answer to a command, with whatever files it carries, once it arrived."""
    await interaction.wait_for(lambda i: any(m.ephemeral for m in i.messages()), timeout)
    [message] = [m for m in interaction.messages() if m.ephemeral]
    return message


async def answer_text(interaction: FakeInteraction, timeout: float = 20) -> str:
    """The text of the private answer to a command (one that may carry files, like /usage)."""
    return (await private_reply(interaction, timeout)).content or ""


async def save_character(
    bot: PoseBot, owner: int, name: str, description: str = "", *, shared: bool = False
) -> bytes:
    """A character in the library, as `/character save` would leave it; returns its bytes."""
    image = prepare_reference(png((300, 300), (200, 30, 30)))
    await bot.characters.save(
        owner_id=owner,
        guild_id=FakeDiscord.GUILD_ID,
        name=name,
        description=description,
        shared=shared,
        image_format=image.format,
        width=image.width,
        height=image.height,
        data=image.data,
        now=bot.clock(),
    )
    return image.data
