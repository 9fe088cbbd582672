-- What a member does next with a finished video: again, at 1080p, extended, or deleted.

-- The job a new one was made from, and how ('again', '1080p' or 'extend').
ALTER TABLE jobs ADD COLUMN source_job_id TEXT REFERENCES jobs (id);
ALTER TABLE jobs ADD COLUMN source_action TEXT
    CHECK (source_action IS NULL OR source_action IN ('again', '1080p', 'extend'));
CREATE INDEX jobs_by_source ON jobs (source_job_id, member_id, created_at)
    WHERE source_job_id IS NOT NULL;
-- When its card was deleted, and by whom; credits are not touched.
ALTER TABLE jobs ADD COLUMN deleted_at TEXT;
ALTER TABLE jobs ADD COLUMN deleted_by INTEGER;
