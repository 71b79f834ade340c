"""Images as Discord files: one way to name them and one way to attach them."""

from __future__ import annotations

import io

import discord

from bot.domain.images import CheckedImage


def file_name(stem: str, image: CheckedImage) -> str:
    """`stem` with the extension Discord and users expect for the image's format."""
    extension = "jpg" if image.format == "jpeg" else image.format
    return f"{stem}.{extension}"


def image_file(image: CheckedImage, filename: str) -> discord.File:
    """A fresh File for one upload: a File is consumed by the upload, so every attempt (a
    retried delivery included) needs its own."""
    return discord.File(io.BytesIO(image.data), filename=filename)
