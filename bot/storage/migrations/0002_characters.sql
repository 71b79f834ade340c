-- The character library.
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
CREATE INDEX characters_by_guild ON characters (guild_id, shared);
