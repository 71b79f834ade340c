-- Many processes share one queue: leases with fencing, one job per interaction, the rate
-- window, the 429 gate and each user's fair share kept in the database.
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
);
