-- A character's sheet: its panels are ordinary jobs that name it and their place on it. The
-- sheet is posted once every panel has ended; `posted_through` is the newest panel job it
-- showed, so a redone panel (a newer job) makes it due again, and a restart loses nothing.
-- Its panels also form a story (`story_id`), named after the character and the kind.
CREATE TABLE sheets (
    id {ID},
    interaction_id BIGINT NOT NULL UNIQUE,
    requester_id BIGINT NOT NULL,
    guild_id BIGINT,
    channel_id BIGINT NOT NULL,
    character_id BIGINT,
    character_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    guild_locale TEXT NOT NULL DEFAULT 'en-US',
    private BOOLEAN NOT NULL DEFAULT FALSE,
    upload_limit BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    posted_through BIGINT NOT NULL DEFAULT 0,
    -- Until when one process is posting it: two processes never post (nor file) one sheet.
    posting_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    message_id BIGINT,
    story_id BIGINT  -- the story its panels form, once made
);
ALTER TABLE jobs ADD COLUMN sheet_id BIGINT;
ALTER TABLE jobs ADD COLUMN sheet_position INTEGER;
CREATE INDEX jobs_by_sheet ON jobs (sheet_id);
