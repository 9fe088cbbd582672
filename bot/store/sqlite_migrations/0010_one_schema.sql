-- One schema on both engines (the tests compare them): what PostgreSQL's schema had and this
-- one lacked, and an insertion sequence for jobs.

-- The order requests were written in: a server's queue is first come, first served by it, on
-- both engines, whatever the clocks or the ids say. SQLite's rowid is that order already.
ALTER TABLE jobs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET seq = rowid;
CREATE TRIGGER jobs_in_order AFTER INSERT ON jobs
BEGIN
    UPDATE jobs SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END;
DROP INDEX jobs_waiting;
CREATE INDEX jobs_waiting ON jobs (guild_id, seq) WHERE admitted_at IS NULL AND state = 'reserved';
CREATE INDEX jobs_by_guild_month ON jobs (guild_id, created_at);
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE delivered_at IS NULL;

-- The ledger: a job's money moves name it and no other row does, and a job is settled once
-- (charged or refunded, never both). SQLite cannot add a CHECK, so the table is rebuilt.
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
    created_at    TEXT NOT NULL,
    CHECK ((kind IN ('reserve', 'charge', 'refund')) = (job_id IS NOT NULL))
);
INSERT INTO ledger_next SELECT * FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_next RENAME TO ledger;
CREATE UNIQUE INDEX ledger_once_per_job ON ledger (job_id, kind) WHERE job_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_settled_once ON ledger (job_id) WHERE kind IN ('charge', 'refund');
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
