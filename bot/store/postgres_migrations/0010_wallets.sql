-- Members' wallets, their append-only ledger, the purchases Discord told the bot of, and what
-- members paid from their wallets in each server's month (see the SQLite migration of the
-- same name).
CREATE TABLE wallets (
    member_id  BIGINT PRIMARY KEY,
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE wallet_ledger (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id      BIGINT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN (
                       'purchase', 'purchase_refund', 'reserve', 'charge', 'refund', 'gift')),
    delta          INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL CHECK (balance_after >= 0),
    shortfall      INTEGER NOT NULL DEFAULT 0 CHECK (shortfall >= 0),
    job_id         TEXT REFERENCES jobs (id),
    entitlement_id BIGINT,
    sku_id         BIGINT,
    test           BOOLEAN NOT NULL DEFAULT FALSE,
    actor_id       BIGINT,
    reason         TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX wallet_ledger_once_per_job ON wallet_ledger (job_id, kind)
    WHERE job_id IS NOT NULL;
CREATE UNIQUE INDEX wallet_ledger_once_per_entitlement ON wallet_ledger (entitlement_id, kind)
    WHERE entitlement_id IS NOT NULL;
CREATE INDEX wallet_ledger_by_member ON wallet_ledger (member_id, id);
CREATE INDEX wallet_ledger_by_time ON wallet_ledger (created_at) WHERE entitlement_id IS NOT NULL;
CREATE TRIGGER wallet_ledger_no_update BEFORE UPDATE OR DELETE ON wallet_ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER wallet_ledger_no_truncate BEFORE TRUNCATE ON wallet_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();

CREATE TABLE entitlements (
    id          BIGINT PRIMARY KEY,
    member_id   BIGINT NOT NULL,
    sku_id      BIGINT NOT NULL,
    credits     INTEGER NOT NULL CHECK (credits > 0),
    test        BOOLEAN NOT NULL DEFAULT FALSE,
    credited_at TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ,
    refunded_at TIMESTAMPTZ
);
CREATE INDEX entitlements_unconsumed ON entitlements (credited_at) WHERE consumed_at IS NULL;

ALTER TABLE server_month ADD COLUMN wallet_spent INTEGER NOT NULL DEFAULT 0
    CHECK (wallet_spent >= 0);
