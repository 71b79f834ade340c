"""The images table: every image the bot keeps, stored once however many jobs and characters
use it, keyed by the SHA-256 of its bytes.

Jobs (`job_images`), characters and story panels refer to an image by its hash, and the
database refuses to delete one that is still referred to (ON DELETE RESTRICT). An image nothing
refers to any more is deleted: at once where its last user goes, and by the storage sweep otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from collections.abc import Iterable

import asyncpg

from bot.storage.database import Database, Executor

log = logging.getLogger(__name__)

# Hashing a few megabytes takes milliseconds: off the event loop past this size.
_HASH_IN_THREAD_BYTES = 256 * 1024
UNUSED = (
    "NOT EXISTS (SELECT 1 FROM job_images j WHERE j.sha256 = images.sha256)"
    " AND NOT EXISTS (SELECT 1 FROM characters c WHERE c.image_sha256 = images.sha256)"
    " AND NOT EXISTS (SELECT 1 FROM story_panels p WHERE p.image_sha256 = images.sha256)"
)
# What the database answers when a reference appeared meanwhile (the image is in use again).
IN_USE_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def digest_off_loop(data: bytes) -> str:
    if len(data) < _HASH_IN_THREAD_BYTES:
        return digest(data)
    return await asyncio.to_thread(digest, data)


async def put(
    tx: Executor,
    sha256: str,
    *,
    image_format: str,
    width: int,
    height: int,
    data: bytes,
    now: float,
) -> None:
    """Keep an image (its `sha256` is `digest(data)`), unless it is kept already: then only
    its last use is noted, and no byte is written again.

    The update comes first and locks the row until the caller's transaction ends, so that a
    concurrent deletion of the unused image waits and is then refused by the reference that
    the caller adds."""
    touched = await tx.fetch(
        "UPDATE images SET last_used_at = $1 WHERE sha256 = $2 RETURNING sha256", now, sha256
    )
    if touched:
        return
    await tx.execute(
        "INSERT INTO images (sha256, format, width, height, bytes, created_at, last_used_at,"
        " data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (sha256) DO UPDATE SET last_used_at = excluded.last_used_at",
        sha256,
        image_format,
        width,
        height,
        len(data),
        now,
        now,
        data,
    )


async def delete_unused(database: Database, hashes: Iterable[str]) -> int:
    """Delete those of these images that nothing refers to; returns the bytes freed.

    One statement each: an image that got a new reference meanwhile is refused by the database
    and simply kept."""
    freed = 0
    for sha256 in dict.fromkeys(hashes):
        try:
            rows = await database.fetch(
                f"DELETE FROM images WHERE sha256 = $1 AND {UNUSED} RETURNING bytes",  # noqa: S608 - constant SQL
                sha256,
            )
        except IN_USE_ERRORS:
            continue
        freed += sum(int(row["bytes"]) for row in rows)
    return freed


async def delete_unused_quietly(database: Database, hashes: Iterable[str]) -> None:
    """`delete_unused` after something let go of images, where a failure must not undo what
    was done (a job's end, a deletion): what is left is deleted by the next sweep."""
    try:
        await delete_unused(database, hashes)
    except Exception as error:
        log.warning("could not delete unused images now (%s); the sweep will", error)
