-- Service work orders, queued per department (and per store).

CREATE TABLE work_orders (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('order_followup', 'after_sales', 'on_site', 'feedback_followup')),
    priority        TEXT NOT NULL CHECK (priority IN ('normal', 'high', 'urgent')),
    status          TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'resolved')),
    department      TEXT NOT NULL REFERENCES departments (id),
    store_id        INTEGER REFERENCES locations (id),
    assignee        TEXT,
    title           TEXT NOT NULL,
    subject         TEXT,
    ref             TEXT UNIQUE,
    resolution_code TEXT,
    resolution_note TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    accepted_at     TEXT,
    resolved_at     TEXT
);
CREATE INDEX work_orders_queue ON work_orders (department, status, id);
CREATE INDEX work_orders_store ON work_orders (store_id, status, id) WHERE store_id IS NOT NULL;
CREATE INDEX work_orders_subject ON work_orders (subject) WHERE subject IS NOT NULL;
