-- Allowances, a monthly spending cap, concurrency limits, an audit channel and a job queue.

ALTER TABLE guild_settings ADD COLUMN monthly_cap INTEGER CHECK (monthly_cap IS NULL OR monthly_cap > 0);
ALTER TABLE guild_settings ADD COLUMN per_member_limit INTEGER CHECK (per_member_limit IS NULL OR per_member_limit > 0);
ALTER TABLE guild_settings ADD COLUMN per_server_limit INTEGER CHECK (per_server_limit IS NULL OR per_server_limit > 0);
ALTER TABLE guild_settings ADD COLUMN log_channel_id INTEGER;

CREATE TABLE allowances (
    guild_id   INTEGER NOT NULL,
    role_id    INTEGER NOT NULL,  -- 0: every member
    amount     INTEGER NOT NULL CHECK (amount > 0),
    period     TEXT NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    updated_by INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, role_id)
) WITHOUT ROWID;

-- The allowance period a member was last topped up for.
ALTER TABLE accounts ADD COLUMN allowance_key TEXT;

-- A job waits in its server's queue, credits reserved, until it is admitted.
ALTER TABLE jobs ADD COLUMN admitted_at TEXT;
UPDATE jobs SET admitted_at = created_at;
CREATE INDEX jobs_waiting ON jobs (guild_id, created_at) WHERE admitted_at IS NULL AND state = 'reserved';

-- The ledger gains the 'allowance' kind; SQLite cannot alter a CHECK, so the table is rebuilt.
CREATE TABLE ledger_next (
    id            INTEGER PRIMARY KEY,
    guild_id      INTEGER NOT NULL,
    member_id     INTEGER NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN
                  ('opening', 'grant', 'set', 'allowance', 'reserve', 'charge', 'refund')),
    delta         INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    job_id        TEXT REFERENCES jobs (id),
    actor_id      INTEGER,
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
);
INSERT INTO ledger_next SELECT * FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_next RENAME TO ledger;
CREATE UNIQUE INDEX ledger_once_per_job ON ledger (job_id, kind) WHERE job_id IS NOT NULL;
CREATE INDEX ledger_by_member ON ledger (guild_id, member_id, id);
CREATE INDEX ledger_by_guild ON ledger (guild_id, id);
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
