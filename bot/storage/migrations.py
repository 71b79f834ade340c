"""The database's numbered migrations: number N is MIGRATIONS[N - 1]; only ever append.

{ID} and {BLOB} stand for the column types that SQLite and PostgreSQL spell differently. A
migration is SQL, or a tuple of steps (SQL, or a Python step for what SQL cannot do in both
databases); each migration runs in one transaction.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.storage.database import Executor, Migration, Row

# Rows of images moved at a time by migration 9: a few megabytes each.
_MOVE_BATCH = 10


async def _key_images_by_hash(tx: Executor, dialect: str) -> None:
    """Migration 9's data: every image of a job or a character into `images`, once per
    distinct content. SQLite has no SHA-256 in SQL, so the bytes are hashed here."""
    after: tuple[int, str] = (-1, "")
    while rows := await tx.fetch(
        "SELECT i.job_id, i.role, i.format, i.width, i.height, i.source_url, i.data,"
        " j.requester_id, j.parent_job_id, j.created_at,"
        " COALESCE(j.finished_at, j.created_at) AS used_at"
        " FROM job_images_before_9 i JOIN jobs j ON j.id = i.job_id"
        " WHERE i.job_id > ? OR (i.job_id = ? AND i.role > ?)"
        " ORDER BY i.job_id, i.role LIMIT ?",
        after[0],
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
                    "SELECT uploaded_by FROM job_images WHERE job_id = ? AND role = ?"
                    " AND sha256 = ?",
                    row["parent_job_id"],
                    row["role"],
                    sha256,
                )
                if parent and parent[0]["uploaded_by"] is not None:
                    uploaded_by = parent[0]["uploaded_by"]
            await tx.execute(
                "INSERT INTO job_images (job_id, role, sha256, uploaded_by, source_url)"
                " VALUES (?, ?, ?, ?, ?)",
                row["job_id"],
                row["role"],
                sha256,
                uploaded_by,
                row["source_url"],
            )
        after = (rows[-1]["job_id"], rows[-1]["role"])
    last_id = -1
    while rows := await tx.fetch(
        "SELECT * FROM characters_before_9 WHERE id > ? ORDER BY id LIMIT ?",
        last_id,
        _MOVE_BATCH,
    ):
        for row in rows:
            sha256 = await _put_image(tx, row, row["created_at"], row["created_at"])
            await tx.execute(
                "INSERT INTO characters (id, owner_id, guild_id, name, name_key, description,"
                " shared, image_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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


async def _vacuum_images_promptly(tx: Executor, dialect: str) -> None:
    """PostgreSQL: autovacuum makes the space of deleted images reusable within a minute or
    so, rather than once a fifth of the table is dead (its default): a database that stays
    within its budget. The images' bytes live in the table's TOAST, counted in chunks of
    about 2 kB."""
    if dialect == "postgres":
        await tx.execute(
            "ALTER TABLE images SET (autovacuum_vacuum_scale_factor = 0,"
            " autovacuum_vacuum_threshold = 50, toast.autovacuum_vacuum_scale_factor = 0,"
            " toast.autovacuum_vacuum_threshold = 2000)"
        )


async def _put_image(tx: Executor, row: Row, created_at: float, used_at: float) -> str:
    data = bytes(row["data"])
    sha256 = hashlib.sha256(data).hexdigest()
    await tx.execute(
        "INSERT INTO images (sha256, format, width, height, bytes, created_at, last_used_at,"
        " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET"
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


MIGRATIONS: tuple[Migration, ...] = (
    # 1: jobs and their images
    """
    CREATE TABLE jobs (
        id {ID},
        requester_id BIGINT NOT NULL,
        guild_id BIGINT,
        channel_id BIGINT NOT NULL,
        application_id BIGINT NOT NULL,
        interaction_id BIGINT NOT NULL,
        token TEXT NOT NULL,
        token_expires_at DOUBLE PRECISION NOT NULL,
        status_message_id BIGINT,
        upload_limit BIGINT NOT NULL,
        prompt TEXT NOT NULL,
        negative_prompt TEXT NOT NULL,
        seed BIGINT NOT NULL,
        steps INTEGER NOT NULL,
        guidance DOUBLE PRECISION NOT NULL,
        size TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        generated_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        request_id TEXT,
        status_url TEXT,
        response_url TEXT,
        result_message_id BIGINT,
        usage TEXT
    );
    CREATE INDEX jobs_by_state ON jobs (state, id);
    CREATE INDEX jobs_by_requester ON jobs (requester_id, state);
    CREATE TABLE job_images (
        job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        format TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        source_url TEXT,
        data {BLOB} NOT NULL,
        PRIMARY KEY (job_id, role)
    )
    """,
    # 2: the character library
    """
    CREATE TABLE characters (
        id {ID},
        owner_id BIGINT NOT NULL,
        guild_id BIGINT,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        description TEXT NOT NULL,
        shared BOOLEAN NOT NULL,
        format TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        data {BLOB} NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        UNIQUE (owner_id, name_key)
    );
    CREATE INDEX characters_by_guild ON characters (guild_id, shared)
    """,
    # 3: a job made from an earlier result (Reroll, New pose) remembers which
    """
    ALTER TABLE jobs ADD COLUMN parent_job_id BIGINT
    """,
    # 4: what each job costs: the price reserved when accepted, then what the API charged
    """
    ALTER TABLE jobs ADD COLUMN cost DOUBLE PRECISION NOT NULL DEFAULT 0
    """,
    # 5: what each server's admins chose
    """
    CREATE TABLE server_settings (
        guild_id BIGINT PRIMARY KEY,
        enabled BOOLEAN NOT NULL,
        channels TEXT NOT NULL,
        daily_cap INTEGER,
        user_cap INTEGER,
        negative_prompt TEXT NOT NULL,
        nsfw_allowed BOOLEAN NOT NULL,
        blocked_words TEXT NOT NULL
    )
    """,
    # 6: small facts the bot keeps about itself (a pause, so that it survives a restart)
    """
    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    # 7: servers whose results are shown to the requester alone
    """
    ALTER TABLE server_settings ADD COLUMN private_results BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE jobs ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE
    """,
    # 8: many processes share one queue: leases with fencing, one job per interaction, the
    # rate window, the 429 gate and each user's fair share kept in the database
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;
    ALTER TABLE jobs ADD COLUMN card TEXT;
    CREATE UNIQUE INDEX jobs_by_interaction ON jobs (interaction_id);
    CREATE INDEX jobs_by_owner ON jobs (owner, state);
    CREATE TABLE dispatch (
        id INTEGER PRIMARY KEY,
        gate_until DOUBLE PRECISION NOT NULL,
        gate_strikes INTEGER NOT NULL
    );
    INSERT INTO dispatch (id, gate_until, gate_strikes) VALUES (1, 0, 0);
    CREATE TABLE api_sends (
        id {ID},
        sent_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX api_sends_by_time ON api_sends (sent_at);
    CREATE TABLE user_spells (
        user_id BIGINT PRIMARY KEY,
        served INTEGER NOT NULL
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until DOUBLE PRECISION NOT NULL
    )
    """,
    # 9: each image stored once, keyed by the SHA-256 of its bytes; jobs and characters refer
    # to it, and the database refuses to delete one still referred to. Jobs remember their last
    # use (delivery, a Reroll or New pose made from them) for how long their images are kept.
    (
        """
        CREATE TABLE images (
            sha256 TEXT PRIMARY KEY,
            format TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            bytes BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            last_used_at DOUBLE PRECISION NOT NULL,
            data {BLOB} NOT NULL
        );
        ALTER TABLE job_images RENAME TO job_images_before_9;
        CREATE TABLE job_images (
            job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
            uploaded_by BIGINT,
            forgotten BOOLEAN NOT NULL DEFAULT FALSE,
            source_url TEXT,
            PRIMARY KEY (job_id, role)
        );
        ALTER TABLE characters RENAME TO characters_before_9;
        CREATE TABLE characters (
            id {ID},
            owner_id BIGINT NOT NULL,
            guild_id BIGINT,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,
            description TEXT NOT NULL,
            shared BOOLEAN NOT NULL,
            image_sha256 TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (owner_id, name_key)
        );
        ALTER TABLE jobs ADD COLUMN used_at DOUBLE PRECISION
        """,
        _key_images_by_hash,
        _vacuum_images_promptly,
        """
        DROP TABLE job_images_before_9;
        DROP TABLE characters_before_9;
        CREATE INDEX characters_by_guild ON characters (guild_id, shared);
        CREATE INDEX characters_by_image ON characters (image_sha256);
        CREATE INDEX job_images_by_image ON job_images (sha256);
        CREATE INDEX job_images_by_uploader ON job_images (uploaded_by);
        CREATE INDEX jobs_by_use ON jobs (state, used_at);
        UPDATE jobs SET used_at = finished_at WHERE state = 'delivered';
        UPDATE jobs SET token = '', status_url = NULL, response_url = NULL
            WHERE state IN ('delivered', 'failed', 'cancelled')
        """,
    ),
    # 10: the languages a job speaks after its interaction: its requester's (private answers)
    # and its server's (the public card and result)
    """
    ALTER TABLE jobs ADD COLUMN locale TEXT NOT NULL DEFAULT 'en-US';
    ALTER TABLE jobs ADD COLUMN guild_locale TEXT NOT NULL DEFAULT 'en-US'
    """,
)
