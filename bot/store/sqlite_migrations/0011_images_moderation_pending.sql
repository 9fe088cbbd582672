-- Source images kept once per content, the messages a moderator may delete, and requests
-- acknowledged before they became jobs.

-- A picture is kept once, by the SHA-256 of its bytes, however many jobs use it (Again and
-- 1080p send the same one again); a job names the picture it uses. Older rows keep their
-- bytes in `data` until they are forgotten like any other.
CREATE TABLE images (
    sha256     TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE job_images_next (
    job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('start', 'end')),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data         BLOB,
    image_sha256 TEXT REFERENCES images (sha256),
    PRIMARY KEY (job_id, role),
    CHECK (data IS NOT NULL OR image_sha256 IS NOT NULL)
);
INSERT INTO job_images_next (job_id, role, filename, content_type, data)
    SELECT job_id, role, filename, content_type, data FROM job_images;
DROP TABLE job_images;
ALTER TABLE job_images_next RENAME TO job_images;
CREATE INDEX job_images_by_image ON job_images (image_sha256) WHERE image_sha256 IS NOT NULL;

-- The messages that carry a job's card or video: when one is deleted, by anyone, the job is
-- marked deleted and its video never posted again.
CREATE INDEX jobs_by_card_message ON jobs (card_message_id) WHERE card_message_id IS NOT NULL;
CREATE INDEX jobs_by_video_message ON jobs (video_message_id) WHERE video_message_id IS NOT NULL;

-- A request the bot acknowledged (Discord shows the member "thinking…") and has not yet
-- recorded as a job or answered: if the bot stops in between, the next start tells the member
-- that nothing was charged.
CREATE TABLE pending_requests (
    interaction_token      TEXT PRIMARY KEY,
    application_id         INTEGER NOT NULL,
    guild_id               INTEGER NOT NULL,
    channel_id             INTEGER NOT NULL,
    member_id              INTEGER NOT NULL,
    language               TEXT NOT NULL,
    interaction_created_at TEXT NOT NULL
) WITHOUT ROWID;
