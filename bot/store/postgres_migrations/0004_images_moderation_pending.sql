-- Source images kept once per content, the messages a moderator may delete, and requests
-- acknowledged before they became jobs (see the SQLite migration of the same name).
CREATE TABLE images (
    sha256     TEXT PRIMARY KEY,
    data       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
ALTER TABLE job_images
    ALTER COLUMN data DROP NOT NULL,
    ADD COLUMN image_sha256 TEXT REFERENCES images (sha256),
    ADD CHECK (data IS NOT NULL OR image_sha256 IS NOT NULL);
CREATE INDEX job_images_by_image ON job_images (image_sha256) WHERE image_sha256 IS NOT NULL;

CREATE INDEX jobs_by_card_message ON jobs (card_message_id) WHERE card_message_id IS NOT NULL;
CREATE INDEX jobs_by_video_message ON jobs (video_message_id) WHERE video_message_id IS NOT NULL;

CREATE TABLE pending_requests (
    interaction_token      TEXT PRIMARY KEY,
    application_id         BIGINT NOT NULL,
    guild_id               BIGINT NOT NULL,
    channel_id             BIGINT NOT NULL,
    member_id              BIGINT NOT NULL,
    language               TEXT NOT NULL,
    interaction_created_at TIMESTAMPTZ NOT NULL
);
