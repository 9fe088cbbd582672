-- The Hailuo family: each job's model, what Apiframe billed for it, and the name under which
-- its archived video is served (see the SQLite migration of the same name).
ALTER TABLE jobs
    ADD COLUMN model TEXT NOT NULL DEFAULT 'hailuo-02'
        CHECK (model IN ('hailuo-02', 'hailuo-2.3', 'hailuo-2.3-fast')),
    ADD COLUMN apiframe_cost INTEGER CHECK (apiframe_cost >= 0),
    ADD COLUMN public_name TEXT;
CREATE UNIQUE INDEX jobs_by_public_name ON jobs (public_name) WHERE public_name IS NOT NULL;
ALTER TABLE option_defaults ADD COLUMN model TEXT
    CHECK (model IS NULL OR model IN ('hailuo-02', 'hailuo-2.3', 'hailuo-2.3-fast'));
