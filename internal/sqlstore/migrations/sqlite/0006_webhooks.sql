-- Outbound webhooks: subscriptions, the durable delivery queue and its
-- attempt log.
--
-- Signing secrets are stored as they are, not hashed: they are the HMAC keys
-- that sign every delivery, so Lianlu must read them back. The API shows a
-- secret only when it is created or rotated.

CREATE TABLE webhooks (
    id                    INTEGER PRIMARY KEY,
    url                   TEXT NOT NULL,
    event_types           TEXT NOT NULL, -- JSON array of types and "prefix.*"
    department            TEXT REFERENCES departments (id),
    description           TEXT NOT NULL DEFAULT '',
    status                TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_secret_until TEXT,
    after_seq             INTEGER NOT NULL, -- only events after this seq are delivered
    created_by            TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    disabled_at           TEXT
);
CREATE INDEX webhooks_status ON webhooks (status, id);
CREATE INDEX webhooks_department ON webhooks (department, id) WHERE department IS NOT NULL;

-- One row per message to one URL. A pending row is due at next_attempt_at;
-- a worker claims it by setting claim and pushing next_attempt_at out by its
-- lease, so an attempt lost with a crashed node is retried.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    webhook_id       INTEGER REFERENCES webhooks (id),
    department       TEXT REFERENCES departments (id),
    url              TEXT NOT NULL,
    secret           TEXT, -- direct deliveries only; subscriptions sign with the webhook's secret
    msg_id           TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    payload          TEXT NOT NULL,
    event_seq        INTEGER REFERENCES events (seq),
    event_id         TEXT,
    event_type       TEXT,
    subject          TEXT,
    handoff_id       INTEGER,
    replay_of        INTEGER REFERENCES webhook_deliveries (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    claim            TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    delivered_at     TEXT
);
-- Each event is enqueued once per webhook, and each handoff once (replays aside).
CREATE UNIQUE INDEX webhook_deliveries_event_once ON webhook_deliveries (webhook_id, event_seq)
    WHERE webhook_id IS NOT NULL AND event_seq IS NOT NULL AND replay_of IS NULL;
CREATE UNIQUE INDEX webhook_deliveries_handoff_once ON webhook_deliveries (handoff_id)
    WHERE handoff_id IS NOT NULL AND replay_of IS NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, status, id) WHERE webhook_id IS NOT NULL;
CREATE INDEX webhook_deliveries_department ON webhook_deliveries (department, id);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    attempt     INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    UNIQUE (delivery_id, attempt)
);
