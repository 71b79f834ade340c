-- Small facts the bot keeps about itself (a pause, so that it survives a restart).
CREATE TABLE bot_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
