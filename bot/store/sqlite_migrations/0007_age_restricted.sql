-- Whether a job was asked for in an age-restricted channel: its video is shown as a spoiler
-- anywhere else.
ALTER TABLE jobs ADD COLUMN age_restricted INTEGER NOT NULL DEFAULT 0
    CHECK (age_restricted IN (0, 1));
