"""Images as Discord files: one way to download and check an attachment, one way to name an
image and one way to attach it."""

from __future__ import annotations

import asyncio
import io

import discord

from bot.domain.images import MAX_UPLOAD_BYTES, TOO_BIG, CheckedImage, ImageRejected
from bot.domain.images import prepare_reference as prepare_image
from bot.domain.translatable import mark

ATTACH_AGAIN = mark("{label} could not be downloaded from Discord; please attach it again.")


async def download_image(
    attachment: discord.Attachment, label: str, *, unreachable: str = ATTACH_AGAIN
) -> CheckedImage:
    """An attachment downloaded, checked and cleaned (bot/domain/images.py), or ImageRejected,
    written for the user (`label` names the image; `unreachable` says what to do when Discord
    does not serve it). Nothing is paid for an image refused here."""
    if attachment.size > MAX_UPLOAD_BYTES:
        raise ImageRejected(TOO_BIG, label=label, size=f"{attachment.size / 2**20:.1f}")
    try:
        data = await attachment.read()
    except discord.HTTPException:
        raise ImageRejected(unreachable, label=label) from None
    # Decoding takes a while: off the event loop, so other users get their replies.
    return await asyncio.to_thread(prepare_image, data, label=label)


def file_name(stem: str, image: CheckedImage) -> str:
    """`stem` with the extension Discord and users expect for the image's format."""
    extension = "jpg" if image.format == "jpeg" else image.format
    return f"{stem}.{extension}"


def image_file(image: CheckedImage, filename: str) -> discord.File:
    """A fresh File for one upload: a File is consumed by the upload, so every attempt (a
    retried delivery included) needs its own."""
    return discord.File(io.BytesIO(image.data), filename=filename)
