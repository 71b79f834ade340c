-- What each server's admins chose.
CREATE TABLE server_settings (
    guild_id BIGINT PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    channels TEXT NOT NULL,
    daily_cap INTEGER,
    user_cap INTEGER,
    negative_prompt TEXT NOT NULL,
    nsfw_allowed BOOLEAN NOT NULL,
    blocked_words TEXT NOT NULL
);
