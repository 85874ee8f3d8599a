-- Flows (versioned YAML), handoffs with their clocks, business calendars,
-- feedback and the product backlog.

CREATE TABLE flows (
    name       TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    yaml       TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE flow_versions (
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    yaml       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE calendars (
    department TEXT PRIMARY KEY REFERENCES departments (id),
    calendar   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE handoffs (
    id                     INTEGER PRIMARY KEY,
    flow                   TEXT NOT NULL,
    flow_version           INTEGER NOT NULL,
    step                   TEXT NOT NULL,
    trigger_seq            INTEGER NOT NULL REFERENCES events (seq),
    subject                TEXT NOT NULL,
    from_department        TEXT NOT NULL,
    to_department          TEXT NOT NULL,
    action                 TEXT NOT NULL,
    target                 TEXT,
    completes              TEXT NOT NULL,
    accepts                TEXT NOT NULL,
    emitted_at             TEXT NOT NULL,
    recorded_at            TEXT NOT NULL,
    delivered_at           TEXT,
    accepted_at            TEXT,
    done_at                TEXT,
    due_at                 TEXT,
    status                 TEXT NOT NULL CHECK (status IN ('pending', 'open', 'done', 'failed', 'cancelled')),
    error                  TEXT,
    breached_at            TEXT,
    breach_cause           TEXT,
    responsible_department TEXT,
    UNIQUE (trigger_seq, flow, step)
);
CREATE INDEX handoffs_subject ON handoffs (subject, id);
CREATE INDEX handoffs_target ON handoffs (target) WHERE target IS NOT NULL;
CREATE INDEX handoffs_open_due ON handoffs (status, due_at);
CREATE INDEX handoffs_to ON handoffs (to_department, status, id);

CREATE TABLE feedback (
    id           INTEGER PRIMARY KEY,
    rating       INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    problem_type TEXT NOT NULL,
    text         TEXT NOT NULL,
    order_id     INTEGER REFERENCES orders (id),
    member_id    INTEGER REFERENCES members (id),
    sku          TEXT,
    status       TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    product_done INTEGER NOT NULL DEFAULT 0,
    service_done INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    closed_at    TEXT
);

CREATE TABLE backlog_items (
    id           INTEGER PRIMARY KEY,
    problem_type TEXT NOT NULL,
    sku          TEXT NOT NULL,
    title        TEXT NOT NULL,
    weight       INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'triaged', 'done')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (problem_type, sku)
);

CREATE TABLE backlog_feedback (
    backlog_id  INTEGER NOT NULL REFERENCES backlog_items (id),
    feedback_id INTEGER NOT NULL REFERENCES feedback (id),
    PRIMARY KEY (backlog_id, feedback_id)
);
