-- The dashboard's sessions, kept on the server: the browser's cookie holds a random id, and a
-- session is found by that id's SHA-256, so that whoever reads the database finds no cookie
-- that works. Log out, a lost permission and the owner's `dashboard logout` end one for good.
CREATE TABLE dashboard_sessions (
    id_sha256  TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);

-- Each login's state reaches Discord once at most, whichever process its callback reaches.
CREATE TABLE dashboard_login_states (
    state_sha256 TEXT PRIMARY KEY,
    expires_at   TEXT NOT NULL
) WITHOUT ROWID;

-- Sessions used to travel in a cookie encrypted with a key kept here; nothing uses it now.
DELETE FROM bot_state WHERE key = 'dashboard_cookie_key';
