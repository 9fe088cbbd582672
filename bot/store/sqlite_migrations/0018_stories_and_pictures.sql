-- Stories: each scene is a job of the story (its first scene's id), numbered from 1; a scene
-- after the first waits for the scene before it (`waits_for`, cleared once that scene's last
-- frame became its start image) before it may join its server's queue.
ALTER TABLE jobs ADD COLUMN story_id TEXT;
ALTER TABLE jobs ADD COLUMN scene INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN scenes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN waits_for TEXT;
CREATE INDEX jobs_by_story ON jobs (story_id, scene) WHERE story_id IS NOT NULL;

-- "Animate with Hailuo": whose picture a video starts from, and the message it was on.
ALTER TABLE jobs ADD COLUMN picture_author_id INTEGER;
ALTER TABLE jobs ADD COLUMN picture_message_url TEXT;
