-- The dashboard's reads of one server (see the SQLite migration of the same name).
CREATE INDEX ledger_by_guild_time ON ledger (guild_id, created_at);
CREATE INDEX jobs_by_guild_seq ON jobs (guild_id, seq);
