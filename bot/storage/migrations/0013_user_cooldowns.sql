-- Each user's cooldown, one row for every process to read: when they may start their next
-- generation, which request started that window (its interaction id: a refund gives back that
-- window only), and how long the API's own reset after a long 429 holds them.
CREATE TABLE user_cooldowns (
    user_id BIGINT PRIMARY KEY,
    until DOUBLE PRECISION NOT NULL,
    started_by BIGINT,
    held_until DOUBLE PRECISION NOT NULL DEFAULT 0
);
