-- Each user's own defaults for /pose (/settings), and which saved character a job posed
-- (/history filters by it; a Reroll or New pose inherits it).
CREATE TABLE user_settings (
    user_id BIGINT PRIMARY KEY,
    size TEXT,
    steps INTEGER,
    guidance DOUBLE PRECISION,
    negative_prompt TEXT,
    character_id BIGINT
);
ALTER TABLE jobs ADD COLUMN character_id BIGINT;
CREATE INDEX jobs_by_requester_and_id ON jobs (requester_id, id);
