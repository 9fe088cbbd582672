-- The Hailuo family: each job's model (older jobs were all Hailuo 02), what Apiframe billed
-- for it (its `creditCost`, once known), and the unguessable name under which the bot's HTTP
-- server serves its archived video. A saved default may name a model too.
ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT 'hailuo-02'
    CHECK (model IN ('hailuo-02', 'hailuo-2.3', 'hailuo-2.3-fast'));
ALTER TABLE jobs ADD COLUMN apiframe_cost INTEGER CHECK (apiframe_cost >= 0);
ALTER TABLE jobs ADD COLUMN public_name TEXT;
CREATE UNIQUE INDEX jobs_by_public_name ON jobs (public_name) WHERE public_name IS NOT NULL;
ALTER TABLE option_defaults ADD COLUMN model TEXT
    CHECK (model IS NULL OR model IN ('hailuo-02', 'hailuo-2.3', 'hailuo-2.3-fast'));
