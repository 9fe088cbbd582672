-- One copy of the bot per database (per shard on PostgreSQL): a process holds its scope ("all",
-- or "shard N") while it runs, renewing the hold; a second process for the same scope refuses
-- to start. A process that dies lets go without help: its hold expires.
CREATE TABLE process_holds (
    scope      TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    version    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;

-- Every interaction is carried out once, whichever process sees it: the first to claim its id.
CREATE TABLE claimed_interactions (
    interaction_id INTEGER PRIMARY KEY,
    claimed_at     TEXT NOT NULL
);
CREATE INDEX claimed_interactions_by_time ON claimed_interactions (claimed_at);
