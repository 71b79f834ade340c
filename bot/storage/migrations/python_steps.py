"""The parts of migrations that SQL cannot do in both databases, named like the migration files
whose place they take (migration 9's second part runs between `0009_1_…` and `0009_3_…`)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage.database import Executor, Row

# A part in Python: given the migration's transaction and the dialect ("sqlite", "postgres").
Step = Callable[["Executor", str], Awaitable[None]]

# Rows of images moved at a time by migration 9: a few megabytes each.
_MOVE_BATCH = 10


async def key_images_by_hash(tx: Executor, dialect: str) -> None:
    """Migration 9's data: every image of a job or a character into `images`, once per
    distinct content. SQLite has no SHA-256 in SQL, so the bytes are hashed here."""
    after: tuple[int, str] = (-1, "")
    while rows := await tx.fetch(
        "SELECT i.job_id, i.role, i.format, i.width, i.height, i.source_url, i.data,"
        " j.requester_id, j.parent_job_id, j.created_at,"
        " COALESCE(j.finished_at, j.created_at) AS used_at"
        " FROM job_images_before_9 i JOIN jobs j ON j.id = i.job_id"
        " WHERE i.job_id > $1 OR (i.job_id = $1 AND i.role > $2)"
        " ORDER BY i.job_id, i.role LIMIT $3",
        after[0],
        after[1],
        _MOVE_BATCH,
    ):
        for row in rows:
            sha256 = await _put_image(tx, row, row["created_at"], row["used_at"])
            # A Reroll or New pose copied its parent's inputs: they stay the uploads of whoever
            # uploaded them first (parents come first, ids growing).
            uploaded_by = row["requester_id"]
            if row["parent_job_id"] is not None:
                parent = await tx.fetch(
                    "SELECT uploaded_by FROM job_images WHERE job_id = $1 AND role = $2"
                    " AND sha256 = $3",
                    row["parent_job_id"],
                    row["role"],
                    sha256,
                )
                if parent and parent[0]["uploaded_by"] is not None:
                    uploaded_by = parent[0]["uploaded_by"]
            await tx.execute(
                "INSERT INTO job_images (job_id, role, sha256, uploaded_by, source_url)"
                " VALUES ($1, $2, $3, $4, $5)",
                row["job_id"],
                row["role"],
                sha256,
                uploaded_by,
                row["source_url"],
            )
        after = (rows[-1]["job_id"], rows[-1]["role"])
    last_id = -1
    while rows := await tx.fetch(
        "SELECT * FROM characters_before_9 WHERE id > $1 ORDER BY id LIMIT $2",
        last_id,
        _MOVE_BATCH,
    ):
        for row in rows:
            sha256 = await _put_image(tx, row, row["created_at"], row["created_at"])
            await tx.execute(
                "INSERT INTO characters (id, owner_id, guild_id, name, name_key, description,"
                " shared, image_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                row["id"],
                row["owner_id"],
                row["guild_id"],
                row["name"],
                row["name_key"],
                row["description"],
                row["shared"],
                sha256,
                row["created_at"],
            )
        last_id = rows[-1]["id"]
    if dialect == "postgres":
        # Ids were copied as they were: new characters continue after the highest.
        await tx.execute(
            "SELECT setval(pg_get_serial_sequence('characters', 'id'),"
            " COALESCE(MAX(id), 0) + 1, false) FROM characters"
        )


async def _put_image(tx: Executor, row: Row, created_at: float, used_at: float) -> str:
    data = bytes(row["data"])
    sha256 = hashlib.sha256(data).hexdigest()
    await tx.execute(
        "INSERT INTO images (sha256, format, width, height, bytes, created_at, last_used_at,"
        " data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (sha256) DO UPDATE SET"
        " last_used_at = excluded.last_used_at WHERE images.last_used_at < excluded.last_used_at",
        sha256,
        row["format"],
        row["width"],
        row["height"],
        len(data),
        created_at,
        used_at,
        data,
    )
    return sha256


# Each in the place of a file of that name (without `.sql`).
async def fill_spend_ledger(tx: Executor, dialect: str) -> None:
    """Migration 12's data: every job generated or delivered so far is a billed call in the
    ledger, so that an upgrade resets nobody's spend."""
    from bot.storage.spend_ledger import load_secret, record, requester_key

    secret = await load_secret(tx)
    rows = await tx.fetch(
        "SELECT id, guild_id, requester_id, cost, COALESCE(generated_at, created_at) AS at"
        " FROM jobs WHERE state IN ('generated', 'delivered')"
    )
    for row in rows:
        await record(
            tx,
            job_id=row["id"],
            guild_id=row["guild_id"],
            key=requester_key(secret, row["requester_id"]),
            cost=float(row["cost"]),
            at=float(row["at"]),
            billed=True,
        )


STEPS: dict[str, Step] = {
    "0009_2_images_moved": key_images_by_hash,
    "0012_2_spend_ledger_filled": fill_spend_ledger,
}
