-- Members' own wallets: credits they bought in Discord's store (or the owner gave them), good
-- in every server and in direct messages, beside each server's balances.
CREATE TABLE wallets (
    member_id  INTEGER PRIMARY KEY,
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    created_at TEXT NOT NULL
);

-- Every move of a wallet, append-only like the servers' ledger. A purchase, and the refund of
-- one, happen at most once per entitlement; a job's reserve, charge and refund at most once.
-- `shortfall`: what a refunded purchase could not take back (already spent).
CREATE TABLE wallet_ledger (
    id             INTEGER PRIMARY KEY,
    member_id      INTEGER NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN (
                       'purchase', 'purchase_refund', 'reserve', 'charge', 'refund', 'gift')),
    delta          INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
    shortfall      INTEGER NOT NULL DEFAULT 0 CHECK (shortfall >= 0),
    job_id         TEXT REFERENCES jobs (id),
    entitlement_id INTEGER,
    sku_id         INTEGER,
    test           INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    actor_id       INTEGER,
    reason         TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX wallet_ledger_once_per_job ON wallet_ledger (job_id, kind)
    WHERE job_id IS NOT NULL;
CREATE UNIQUE INDEX wallet_ledger_once_per_entitlement ON wallet_ledger (entitlement_id, kind)
    WHERE entitlement_id IS NOT NULL;
CREATE INDEX wallet_ledger_by_member ON wallet_ledger (member_id, id);
CREATE INDEX wallet_ledger_by_time ON wallet_ledger (created_at) WHERE entitlement_id IS NOT NULL;
CREATE TRIGGER wallet_ledger_no_update BEFORE UPDATE ON wallet_ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER wallet_ledger_no_delete BEFORE DELETE ON wallet_ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

-- The purchases Discord told the bot of: credited once, then consumed at Discord (a crash in
-- between is finished at the next start), and refunded at most once.
CREATE TABLE entitlements (
    id          INTEGER PRIMARY KEY,
    member_id   INTEGER NOT NULL,
    sku_id      INTEGER NOT NULL,
    credits     INTEGER NOT NULL CHECK (credits > 0),
    test        INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),
    credited_at TEXT NOT NULL,
    consumed_at TEXT,
    refunded_at TEXT
);
CREATE INDEX entitlements_unconsumed ON entitlements (credited_at) WHERE consumed_at IS NULL;

-- A server's month: what its members paid from their wallets there (its admins' cap counts
-- it; the owner's budget does not).
ALTER TABLE server_month ADD COLUMN wallet_spent INTEGER NOT NULL DEFAULT 0
    CHECK (wallet_spent >= 0);
