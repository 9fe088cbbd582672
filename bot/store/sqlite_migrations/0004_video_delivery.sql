-- Where a finished video now lives on Discord, and the upload limit of the request it answers.

-- The interaction's own attachment_size_limit (bytes), for editing the card with the file.
ALTER TABLE jobs ADD COLUMN upload_limit INTEGER;
-- The message that carries the video file (a Discord message keeps it as long as it exists).
ALTER TABLE jobs ADD COLUMN video_channel_id INTEGER;
ALTER TABLE jobs ADD COLUMN video_message_id INTEGER;
-- Render times are learned from finished jobs, newest first.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state = 'completed';
