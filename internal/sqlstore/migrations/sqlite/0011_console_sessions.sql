-- Console sessions. The cookie holds a random secret; only its SHA-256
-- hash is stored, so a copy of the database signs nobody in.

CREATE TABLE console_sessions (
    id           INTEGER PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
