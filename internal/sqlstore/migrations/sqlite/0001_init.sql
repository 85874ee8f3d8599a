-- The event spine: departments, the event log, subscriptions, access control,
-- audit and idempotency keys. Times are UTC text in a fixed-width layout
-- (2006-01-02T15:04:05.000000Z) so that text order is time order.

CREATE TABLE departments (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

INSERT INTO departments (id, name, created_at) VALUES
    ('marketing',    'Marketing',    strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    ('sales',        'Sales',        strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    ('service',      'Service',      strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    ('supply_chain', 'Supply chain', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    ('product',      'Product',      strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    ('stores',       'Stores',       strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    ('admin',        'Administration', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'));

-- Events are never updated or deleted, so the rowid alias never reuses a
-- value and seq is strictly increasing; the single writer makes it commit
-- order.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL,
    source         TEXT NOT NULL,
    type           TEXT NOT NULL,
    subject        TEXT,
    time           TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    department     TEXT NOT NULL REFERENCES departments (id),
    actor          TEXT,
    correlation_id TEXT,
    causation_id   TEXT,
    dataschema     TEXT,
    data           TEXT,
    UNIQUE (source, id)
);
CREATE INDEX events_type_seq ON events (type, seq);
CREATE INDEX events_subject_seq ON events (subject, seq) WHERE subject IS NOT NULL;
CREATE INDEX events_department_seq ON events (department, seq);

CREATE TABLE subscriptions (
    name       TEXT PRIMARY KEY,
    position   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    department    TEXT NOT NULL REFERENCES departments (id),
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'manager', 'admin')),
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    department   TEXT NOT NULL REFERENCES departments (id),
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'manager', 'admin')),
    user_id      INTEGER REFERENCES users (id),
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    department  TEXT,
    request_id  TEXT,
    detail      TEXT
);

CREATE TABLE idempotency_keys (
    principal    TEXT NOT NULL,
    key          TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    content_type TEXT,
    body         BLOB,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (principal, key)
);
