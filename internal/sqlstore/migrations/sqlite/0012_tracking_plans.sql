-- Tracking plans (one per source, versioned in place) and the tally of
-- their violations per event, rule and field. The plan is kept as text so
-- that it reads back exactly as it was written.

CREATE TABLE tracking_plans (
    source_id       INTEGER PRIMARY KEY REFERENCES sources (id),
    mode            TEXT NOT NULL,
    allow_unplanned INTEGER NOT NULL,
    events          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    updated_at      TEXT NOT NULL,
    updated_by      TEXT
);

CREATE TABLE tracking_violations (
    source_id       INTEGER NOT NULL REFERENCES sources (id),
    event_name      TEXT NOT NULL,
    rule            TEXT NOT NULL,
    field           TEXT NOT NULL,
    message         TEXT NOT NULL,
    flagged         INTEGER NOT NULL,
    blocked         INTEGER NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    last_message_id TEXT NOT NULL,
    PRIMARY KEY (source_id, event_name, rule, field)
);
