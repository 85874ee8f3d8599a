-- Personal-information rights (PIPL arts. 15, 44–50): members' requests,
-- each handled as a handoff with a deadline, and the erasure mark.

-- Set when her personal information was erased: the row stays, with
-- tombstones, so that counts stay true.
ALTER TABLE members ADD COLUMN erased_at TEXT;

CREATE TABLE privacy_requests (
    id             INTEGER PRIMARY KEY,
    member_id      INTEGER NOT NULL REFERENCES members (id),
    kind           TEXT NOT NULL CHECK (kind IN ('access', 'copy', 'correct', 'erase', 'withdraw_consent')),
    status         TEXT NOT NULL CHECK (status IN ('open', 'completed', 'refused')),
    channel        TEXT NOT NULL,
    note           TEXT NOT NULL DEFAULT '',
    department     TEXT NOT NULL REFERENCES departments (id),
    handoff_id     INTEGER REFERENCES handoffs (id),
    received_at    TEXT NOT NULL,
    due_at         TEXT NOT NULL,
    recorded_by    TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    closed_at      TEXT,
    closed_by      TEXT,
    resolution     TEXT,
    refusal_reason TEXT,
    -- A refusal carries its reason (art. 50).
    CHECK (status <> 'refused' OR (refusal_reason IS NOT NULL AND refusal_reason <> ''))
);
CREATE INDEX privacy_requests_member ON privacy_requests (member_id, id);
CREATE INDEX privacy_requests_status ON privacy_requests (status, id);
