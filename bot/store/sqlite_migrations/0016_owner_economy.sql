-- The servers the bot is in, as its owner sees and governs them: whether a server may use
-- the bot yet (with NEW_SERVERS=approve), and the budget the owner set for it (none set: the
-- default, SERVER_MONTHLY_BUDGET, or no limit for a server the owner owns).
CREATE TABLE servers (
    guild_id     INTEGER PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    owner_id     INTEGER,
    member_count INTEGER,
    approval     TEXT NOT NULL DEFAULT 'approved' CHECK (approval IN ('approved', 'waiting')),
    budget       INTEGER CHECK (budget IS NULL OR budget >= 0),
    unlimited    INTEGER NOT NULL DEFAULT 0 CHECK (unlimited IN (0, 1)),
    joined_at    TEXT NOT NULL,
    left_at      TEXT,
    updated_at   TEXT NOT NULL
);

-- Every change the owner made (a budget, an approval, a leave), with who made it and when.
CREATE TABLE owner_changes (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    change     TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT,
    actor_id   INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX owner_changes_by_guild ON owner_changes (guild_id, id);

-- What all servers together reserved in each calendar month (UTC), for the whole bot's limit:
-- kept as one row a month, raised by each reservation and lowered by each refund.
CREATE TABLE month_spend (
    month TEXT PRIMARY KEY,
    spent INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0)
) WITHOUT ROWID;
INSERT INTO month_spend (month, spent)
    SELECT substr(created_at, 1, 7), SUM(price) FROM jobs WHERE state <> 'failed'
    GROUP BY substr(created_at, 1, 7);

-- What each server reserved in each calendar month out of the credits its admins hand out
-- (what the owner's budget and the admins' cap count), kept as running totals the same way.
CREATE TABLE server_month (
    guild_id INTEGER NOT NULL,
    month    TEXT NOT NULL,
    spent    INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0),
    PRIMARY KEY (guild_id, month)
) WITHOUT ROWID;
INSERT INTO server_month (guild_id, month, spent)
    SELECT guild_id, substr(created_at, 1, 7), SUM(price) FROM jobs WHERE state <> 'failed'
    GROUP BY guild_id, substr(created_at, 1, 7);

-- Who paid for a job: the member's credits in its server, or (the wallet) their own.
ALTER TABLE jobs ADD COLUMN paid_from TEXT NOT NULL DEFAULT 'server'
    CHECK (paid_from IN ('server', 'wallet'));
