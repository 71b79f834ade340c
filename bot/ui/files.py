"""Images as Discord files: one way to download and check an attachment, one way to name an
image and one way to attach it."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord

from bot.domain.images import (
    MAX_UPLOAD_BYTES,
    TOO_BIG,
    CheckedImage,
    ImageRejected,
    reference_cost,
)
from bot.domain.images import prepare_reference as prepare_image
from bot.domain.translatable import mark
from bot.memory import MemoryBudget

ATTACH_AGAIN = mark("{label} could not be downloaded from Discord; please attach it again.")
TOO_LARGE_FOR_MEMORY = mark(
    "{label} is {width}×{height} pixels: too large for the bot's memory. "
    "Please send a smaller image."
)
_DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=10)
_CHUNK_BYTES = 256 * 1024


async def download_image(
    attachment: discord.Attachment,
    label: str,
    memory: MemoryBudget,
    session: aiohttp.ClientSession,
    *,
    unreachable: str = ATTACH_AGAIN,
) -> CheckedImage:
    """An attachment downloaded, checked and cleaned (bot/domain/images.py), or ImageRejected,
    written for the user (`label` names the image; `unreachable` says what to do when Discord
    does not serve it). Nothing is paid for an image refused here. The download and the decode
    each hold their memory in the process's budget (bot/memory.py) while they run: an image
    too large for the budget at all is refused, one that merely has to wait waits."""
    if attachment.size > MAX_UPLOAD_BYTES:
        raise ImageRejected(TOO_BIG, label=label, size=f"{attachment.size / 2**20:.1f}")
    # The chunks and the bytes joined from them: twice what Discord says the file holds.
    async with memory.reserve(2 * attachment.size):
        data = await _read(attachment, session, label, unreachable)
    # The header alone: nothing is decoded yet.
    cost = await asyncio.to_thread(reference_cost, data, label=label)
    if cost.bytes > memory.total:
        raise ImageRejected(TOO_LARGE_FOR_MEMORY, label=label, width=cost.width, height=cost.height)
    async with memory.reserve(cost.bytes):
        # Decoding takes a while: off the event loop, so other users get their replies.
        return await asyncio.to_thread(prepare_image, data, label=label)


async def _read(
    attachment: discord.Attachment, session: aiohttp.ClientSession, label: str, unreachable: str
) -> bytes:
    """The attachment's bytes, never more than Discord declared for it (whatever the CDN's
    Content-Length says: the bytes are counted as they arrive)."""
    chunks: list[bytes] = []
    received = 0
    try:
        async with session.get(attachment.url, timeout=_DOWNLOAD_TIMEOUT) as response:
            if response.status != 200:
                raise ImageRejected(unreachable, label=label)
            async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
                received += len(chunk)
                if received > attachment.size:
                    raise ImageRejected(unreachable, label=label)
                chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError):
        raise ImageRejected(unreachable, label=label) from None
    return b"".join(chunks)


def file_name(stem: str, image: CheckedImage) -> str:
    """`stem` with the extension Discord and users expect for the image's format."""
    extension = "jpg" if image.format == "jpeg" else image.format
    return f"{stem}.{extension}"


def image_file(image: CheckedImage, filename: str) -> discord.File:
    """A fresh File for one upload: a File is consumed by the upload, so every attempt (a
    retried delivery included) needs its own."""
    return discord.File(io.BytesIO(image.data), filename=filename)
