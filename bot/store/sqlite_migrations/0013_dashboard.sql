-- The dashboard's reads of one server: its ledger by time (what was handed out this month) and
-- its videos newest first.
CREATE INDEX ledger_by_guild_time ON ledger (guild_id, created_at);
CREATE INDEX jobs_by_guild_seq ON jobs (guild_id, seq);
