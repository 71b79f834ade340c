-- Stories: ordered panels, each a delivered result (its image referred to by hash, so that the
-- sweep never takes it while the panel stands) and a caption.
CREATE TABLE stories (
    id {ID},
    owner_id BIGINT NOT NULL,
    guild_id BIGINT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    shared BOOLEAN NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (owner_id, name_key)
);
CREATE INDEX stories_by_guild ON stories (guild_id, shared);
CREATE TABLE story_panels (
    id {ID},
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    job_id BIGINT,
    image_sha256 TEXT NOT NULL REFERENCES images (sha256) ON DELETE RESTRICT,
    caption TEXT NOT NULL DEFAULT '',
    added_by BIGINT NOT NULL,
    added_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX story_panels_by_story ON story_panels (story_id, position);
CREATE INDEX story_panels_by_image ON story_panels (image_sha256);
CREATE INDEX story_panels_by_adder ON story_panels (added_by, added_at);
-- A panel asked for with /story add (or a panel's 🎲 redo, which replaces that panel), until
-- its request is delivered (then it becomes the story's next panel) or ends without a result;
-- keyed by the request's interaction, which its job carries.
CREATE TABLE story_pending (
    interaction_id BIGINT PRIMARY KEY,
    story_id BIGINT NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    added_by BIGINT NOT NULL,
    replaces_panel_id BIGINT,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX story_pending_by_story ON story_pending (story_id);
