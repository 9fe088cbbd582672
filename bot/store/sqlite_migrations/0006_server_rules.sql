-- Server rules for what gets made: blocked words, adult content, and saved defaults.

CREATE TABLE blocked_words (
    guild_id INTEGER NOT NULL,
    entry    TEXT NOT NULL,
    added_by INTEGER,
    added_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, entry)
) WITHOUT ROWID;

-- 1: prompts marked as sexual are allowed in the server's age-restricted channels.
ALTER TABLE guild_settings ADD COLUMN nsfw_allowed INTEGER NOT NULL DEFAULT 0
    CHECK (nsfw_allowed IN (0, 1));

-- Defaults for /hailuo's options: a member's in a server, or (member_id 0) the server's own.
CREATE TABLE option_defaults (
    guild_id         INTEGER NOT NULL,
    member_id        INTEGER NOT NULL,
    duration         INTEGER CHECK (duration IS NULL OR duration IN (6, 10)),
    resolution       TEXT CHECK (resolution IS NULL OR resolution IN ('768p', '1080p')),
    prompt_optimizer INTEGER CHECK (prompt_optimizer IS NULL OR prompt_optimizer IN (0, 1)),
    camera           TEXT,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (guild_id, member_id)
) WITHOUT ROWID;
