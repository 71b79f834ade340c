"""The database's numbered migrations: number N is MIGRATIONS[N - 1]; only ever append.

{ID} and {BLOB} stand for the column types that SQLite and PostgreSQL spell differently.
"""

MIGRATIONS = (
    # 1: jobs and their images
    """
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
    )
    """,
    # 2: the character library
    """
    CREATE TABLE characters (
        id {ID},
        owner_id BIGINT NOT NULL,
        guild_id BIGINT,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL,
        description TEXT NOT NULL,
        shared BOOLEAN NOT NULL,
        format TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        data {BLOB} NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        UNIQUE (owner_id, name_key)
    );
    CREATE INDEX characters_by_guild ON characters (guild_id, shared)
    """,
    # 3: a job made from an earlier result (Reroll, New pose) remembers which
    """
    ALTER TABLE jobs ADD COLUMN parent_job_id BIGINT
    """,
    # 4: what each job costs: the price reserved when accepted, then what the API charged
    """
    ALTER TABLE jobs ADD COLUMN cost DOUBLE PRECISION NOT NULL DEFAULT 0
    """,
    # 5: what each server's admins chose
    """
    CREATE TABLE server_settings (
        guild_id BIGINT PRIMARY KEY,
        enabled BOOLEAN NOT NULL,
        channels TEXT NOT NULL,
        daily_cap INTEGER,
        user_cap INTEGER,
        negative_prompt TEXT NOT NULL,
        nsfw_allowed BOOLEAN NOT NULL,
        blocked_words TEXT NOT NULL
    )
    """,
    # 6: small facts the bot keeps about itself (a pause, so that it survives a restart)
    """
    CREATE TABLE bot_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    # 7: servers whose results are shown to the requester alone
    """
    ALTER TABLE server_settings ADD COLUMN private_results BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE jobs ADD COLUMN private BOOLEAN NOT NULL DEFAULT FALSE
    """,
    # 8: many processes share one queue: leases with fencing, one job per interaction, the
    # rate window, the 429 gate and each user's fair share kept in the database
    """
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
    )
    """,
)
