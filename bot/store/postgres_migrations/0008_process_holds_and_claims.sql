-- One copy of the bot per database or shard, and each interaction carried out once (see the
-- SQLite migration of the same name).
CREATE TABLE process_holds (
    scope      TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    version    TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE claimed_interactions (
    interaction_id BIGINT PRIMARY KEY,
    claimed_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX claimed_interactions_by_time ON claimed_interactions (claimed_at);
