-- Stories and the pictures "Animate with Hailuo" starts from (see the SQLite migration of the
-- same name).
ALTER TABLE jobs ADD COLUMN story_id TEXT;
ALTER TABLE jobs ADD COLUMN scene INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN scenes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN waits_for TEXT;
CREATE INDEX jobs_by_story ON jobs (story_id, scene) WHERE story_id IS NOT NULL;

ALTER TABLE jobs ADD COLUMN picture_author_id BIGINT;
ALTER TABLE jobs ADD COLUMN picture_message_url TEXT;
