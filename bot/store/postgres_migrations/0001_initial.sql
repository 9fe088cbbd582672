-- The whole schema of the SQLite store (its migrations 0001-0008), in PostgreSQL's own types:
-- Discord ids as BIGINT, times as TIMESTAMPTZ, flags as BOOLEAN, images as BYTEA.
-- The promises live in the schema here too: balances never below zero, a job reserved, charged
-- and refunded at most once each, and a ledger that can only grow.

CREATE TABLE guild_settings (
    guild_id         BIGINT PRIMARY KEY,
    default_credits  INTEGER CHECK (default_credits IS NULL OR default_credits >= 0),
    monthly_cap      INTEGER CHECK (monthly_cap IS NULL OR monthly_cap > 0),
    per_member_limit INTEGER CHECK (per_member_limit IS NULL OR per_member_limit > 0),
    per_server_limit INTEGER CHECK (per_server_limit IS NULL OR per_server_limit > 0),
    log_channel_id   BIGINT,
    nsfw_allowed     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at       TIMESTAMPTZ NOT NULL,
    updated_by       BIGINT
);

CREATE TABLE guild_settings_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    setting    TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    actor_id   BIGINT,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE allowances (
    guild_id   BIGINT NOT NULL,
    role_id    BIGINT NOT NULL,  -- 0: every member
    amount     INTEGER NOT NULL CHECK (amount > 0),
    period     TEXT NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    updated_by BIGINT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- A balance is a cache of the member's ledger rows; `db verify` checks that they agree.
CREATE TABLE accounts (
    guild_id      BIGINT NOT NULL,
    member_id     BIGINT NOT NULL,
    balance       INTEGER NOT NULL CHECK (balance >= 0),
    allowance_key TEXT,  -- the allowance period the member was last topped up for
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, member_id)
);

CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY,
    guild_id               BIGINT NOT NULL,
    channel_id             BIGINT NOT NULL,
    member_id              BIGINT NOT NULL,
    application_id         BIGINT NOT NULL,
    interaction_token      TEXT NOT NULL,
    interaction_created_at TIMESTAMPTZ NOT NULL,
    card_message_id        BIGINT,
    prompt                 TEXT NOT NULL,
    duration               INTEGER NOT NULL CHECK (duration IN (6, 10)),
    resolution             TEXT NOT NULL CHECK (resolution IN ('768p', '1080p')),
    prompt_optimizer       BOOLEAN,
    has_start_image        BOOLEAN NOT NULL DEFAULT FALSE,
    has_end_image          BOOLEAN NOT NULL DEFAULT FALSE,
    price                  INTEGER NOT NULL CHECK (price > 0),
    idempotency_key        TEXT NOT NULL UNIQUE,
    state                  TEXT NOT NULL
                           CHECK (state IN ('reserved', 'submitted', 'completed', 'failed')),
    apiframe_job_id        TEXT UNIQUE,
    start_image_url        TEXT,
    end_image_url          TEXT,
    remote_status          TEXT,
    progress               INTEGER,
    video_url              TEXT,
    failure_reason         TEXT,
    delivered_via          TEXT,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    submitted_at           TIMESTAMPTZ,
    finished_at            TIMESTAMPTZ,
    delivered_at           TIMESTAMPTZ,
    admitted_at            TIMESTAMPTZ,
    late_notified_at       TIMESTAMPTZ,
    upload_limit           INTEGER,
    video_channel_id       BIGINT,
    video_message_id       BIGINT,
    source_job_id          TEXT REFERENCES jobs (id),
    source_action          TEXT
                           CHECK (source_action IS NULL OR source_action IN ('again', '1080p', 'extend')),
    deleted_at             TIMESTAMPTZ,
    deleted_by             BIGINT,
    age_restricted         BOOLEAN NOT NULL DEFAULT FALSE,
    language               TEXT NOT NULL DEFAULT 'en'
);
CREATE INDEX jobs_undelivered ON jobs (created_at) WHERE delivered_at IS NULL;
CREATE INDEX jobs_by_member ON jobs (guild_id, member_id, created_at);
CREATE INDEX jobs_by_guild_month ON jobs (guild_id, created_at);
CREATE INDEX jobs_waiting ON jobs (guild_id, created_at)
    WHERE admitted_at IS NULL AND state = 'reserved';
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state = 'completed';
CREATE INDEX jobs_by_source ON jobs (source_job_id, member_id, created_at)
    WHERE source_job_id IS NOT NULL;

CREATE TABLE job_images (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('start', 'end')),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (job_id, role)
);

CREATE TABLE ledger (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id      BIGINT NOT NULL,
    member_id     BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN
                  ('opening', 'grant', 'set', 'allowance', 'reserve', 'charge', 'refund')),
    delta         INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    job_id        TEXT REFERENCES jobs (id),
    actor_id      BIGINT,
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    -- The money moves of a job name it; the others (opening, grants, top-ups) name none.
    CHECK ((kind IN ('reserve', 'charge', 'refund')) = (job_id IS NOT NULL))
);
-- A job can be reserved, charged and refunded at most once each, whatever replays.
CREATE UNIQUE INDEX ledger_once_per_job ON ledger (job_id, kind) WHERE job_id IS NOT NULL;
-- ...and settled once: charged or refunded, never both.
CREATE UNIQUE INDEX ledger_settled_once ON ledger (job_id) WHERE kind IN ('charge', 'refund');
CREATE INDEX ledger_by_member ON ledger (guild_id, member_id, id);
CREATE INDEX ledger_by_guild ON ledger (guild_id, id);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
END;
$$;
CREATE TRIGGER ledger_no_update BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();

CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE blocked_words (
    guild_id BIGINT NOT NULL,
    entry    TEXT NOT NULL,
    added_by BIGINT,
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, entry)
);

CREATE TABLE option_defaults (
    guild_id         BIGINT NOT NULL,
    member_id        BIGINT NOT NULL,
    duration         INTEGER CHECK (duration IS NULL OR duration IN (6, 10)),
    resolution       TEXT CHECK (resolution IS NULL OR resolution IN ('768p', '1080p')),
    prompt_optimizer BOOLEAN,
    camera           TEXT,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (guild_id, member_id)
);
