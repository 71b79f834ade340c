-- What was paid, kept apart from the jobs so that forgetting a user never forgets a charge: one
-- row per call the API billed (or may have billed), with nothing personal in it. `job_id` is
-- known only while the job exists; `requester_key` is a keyed hash of the requester's id (its
-- secret is in bot_state), enough for their own daily limit and no more.
CREATE TABLE spend_ledger (
    id {ID},
    job_id BIGINT UNIQUE REFERENCES jobs (id) ON DELETE SET NULL,
    guild_id BIGINT,
    requester_key TEXT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    -- FALSE: the call may have been billed without a result (a timeout, a damaged image):
    -- counted in dollars, not in anyone's generations.
    billed BOOLEAN NOT NULL
);
CREATE INDEX spend_ledger_by_time ON spend_ledger (at);
CREATE INDEX spend_ledger_by_requester ON spend_ledger (requester_key, at);
CREATE INDEX spend_ledger_by_guild ON spend_ledger (guild_id, at);
