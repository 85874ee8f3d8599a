-- Tracking plans (one per source, versioned in place) and the tally of
-- their violations per event, rule and field. The plan is kept as text so
-- that it reads back exactly as it was written.

CREATE TABLE tracking_plans (
    source_id       BIGINT PRIMARY KEY REFERENCES sources (id),
    mode            TEXT NOT NULL,
    allow_unplanned BOOLEAN NOT NULL,
    events          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    updated_by      TEXT
);

CREATE TABLE tracking_violations (
    source_id       BIGINT NOT NULL REFERENCES sources (id),
    event_name      TEXT NOT NULL,
    rule            TEXT NOT NULL,
    field           TEXT NOT NULL,
    message         TEXT NOT NULL,
    flagged         BIGINT NOT NULL,
    blocked         BIGINT NOT NULL,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL,
    last_message_id TEXT NOT NULL,
    PRIMARY KEY (source_id, event_name, rule, field)
);
