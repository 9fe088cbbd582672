-- The servers and the owner's say over them, the owner's changes, the whole bot's month, and
-- who paid for a job (see the SQLite migration of the same name).
CREATE TABLE servers (
    guild_id     BIGINT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    owner_id     BIGINT,
    member_count INTEGER,
    approval     TEXT NOT NULL DEFAULT 'approved' CHECK (approval IN ('approved', 'waiting')),
    budget       INTEGER CHECK (budget IS NULL OR budget >= 0),
    unlimited    BOOLEAN NOT NULL DEFAULT FALSE,
    joined_at    TIMESTAMPTZ NOT NULL,
    left_at      TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE owner_changes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    change     TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    actor_id   BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX owner_changes_by_guild ON owner_changes (guild_id, id);

CREATE TABLE month_spend (
    month TEXT PRIMARY KEY,
    spent INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0)
);
INSERT INTO month_spend (month, spent)
    SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), SUM(price) FROM jobs
    WHERE state <> 'failed' GROUP BY 1;

CREATE TABLE server_month (
    guild_id BIGINT NOT NULL,
    month    TEXT NOT NULL,
    spent    INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0),
    PRIMARY KEY (guild_id, month)
);
INSERT INTO server_month (guild_id, month, spent)
    SELECT guild_id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM'), SUM(price) FROM jobs
    WHERE state <> 'failed' GROUP BY 1, 2;

ALTER TABLE jobs ADD COLUMN paid_from TEXT NOT NULL DEFAULT 'server'
    CHECK (paid_from IN ('server', 'wallet'));
