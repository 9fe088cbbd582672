-- Credits, their append-only ledger, generation jobs and per-server settings.

CREATE TABLE guild_settings (
    guild_id        INTEGER PRIMARY KEY,
    default_credits INTEGER CHECK (default_credits IS NULL OR default_credits >= 0),
    updated_at      TEXT NOT NULL,
    updated_by      INTEGER
);

-- Who changed which server setting, and when.
CREATE TABLE guild_settings_log (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    setting    TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    actor_id   INTEGER,
    created_at TEXT NOT NULL
);

-- A balance is a cache of the member's ledger rows; `db verify` checks that they agree.
CREATE TABLE accounts (
    guild_id   INTEGER NOT NULL,
    member_id  INTEGER NOT NULL,
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    created_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, member_id)
) WITHOUT ROWID;

CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY,
    guild_id               INTEGER NOT NULL,
    channel_id             INTEGER NOT NULL,
    member_id              INTEGER NOT NULL,
    application_id         INTEGER NOT NULL,
    interaction_token      TEXT NOT NULL,
    interaction_created_at TEXT NOT NULL,
    card_message_id        INTEGER,
    prompt                 TEXT NOT NULL,
    duration               INTEGER NOT NULL CHECK (duration IN (6, 10)),
    resolution             TEXT NOT NULL CHECK (resolution IN ('768p', '1080p')),
    prompt_optimizer       INTEGER,
    has_start_image        INTEGER NOT NULL DEFAULT 0,
    has_end_image          INTEGER NOT NULL DEFAULT 0,
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
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    submitted_at           TEXT,
    finished_at            TEXT,
    delivered_at           TEXT
);
CREATE INDEX jobs_undelivered ON jobs (created_at) WHERE delivered_at IS NULL;
CREATE INDEX jobs_by_member ON jobs (guild_id, member_id, created_at);

-- Start/end images between the reservation and their upload to Apiframe, so a restart can
-- upload them again; deleted once Apiframe holds them.
CREATE TABLE job_images (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('start', 'end')),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (job_id, role)
);

CREATE TABLE ledger (
    id            INTEGER PRIMARY KEY,
    guild_id      INTEGER NOT NULL,
    member_id     INTEGER NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind IN ('opening', 'grant', 'set', 'reserve', 'charge', 'refund')),
    delta         INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    job_id        TEXT REFERENCES jobs (id),
    actor_id      INTEGER,
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
);
-- A job can be reserved, charged and refunded at most once each, whatever replays.
CREATE UNIQUE INDEX ledger_once_per_job ON ledger (job_id, kind) WHERE job_id IS NOT NULL;
CREATE INDEX ledger_by_member ON ledger (guild_id, member_id, id);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
