-- The dashboard's sessions and one-use login states (see the SQLite migration of the same name).
CREATE TABLE dashboard_sessions (
    id_sha256  TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    data       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dashboard_sessions_by_user ON dashboard_sessions (user_id);

CREATE TABLE dashboard_login_states (
    state_sha256 TEXT PRIMARY KEY,
    expires_at   TIMESTAMPTZ NOT NULL
);

DELETE FROM bot_state WHERE key = 'dashboard_cookie_key';
