-- The languages a job speaks after its interaction: its requester's (private answers) and its
-- server's (the public card and result).
ALTER TABLE jobs ADD COLUMN locale TEXT NOT NULL DEFAULT 'en-US';
ALTER TABLE jobs ADD COLUMN guild_locale TEXT NOT NULL DEFAULT 'en-US';
