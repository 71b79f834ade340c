-- Each image stored once, keyed by the SHA-256 of its bytes; jobs and characters refer to it,
-- and the database refuses to delete one still referred to. Jobs remember their last use
-- (delivery, a Reroll or New pose made from them) for how long their images are kept.
-- The old tables are kept aside while part 2 (python_steps.py) moves their images.
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
ALTER TABLE jobs ADD COLUMN used_at DOUBLE PRECISION;
