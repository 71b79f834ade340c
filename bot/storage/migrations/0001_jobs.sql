-- Jobs and their images.
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
);
