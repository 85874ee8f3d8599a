-- Offers: rules (CEL condition, coupon template, channel, frequency cap,
-- quiet hours), each decision to send (the inbox channel reads them), and
-- coupons with their redemption.

CREATE TABLE offer_rules (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    definition  TEXT NOT NULL, -- JSON of the rule's settings
    -- Only events after this seq (the log's end when the rule was created)
    -- trigger it: a new rule does not reach back into history.
    after_seq   INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE offer_sends (
    id          INTEGER PRIMARY KEY,
    rule_id     INTEGER NOT NULL REFERENCES offer_rules (id),
    member_id   INTEGER NOT NULL REFERENCES members (id),
    trigger_seq INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('scheduled', 'sent', 'suppressed', 'dropped')),
    evaluated   INTEGER NOT NULL, -- the condition held when it was scheduled
    reason      TEXT,
    due_at      TEXT NOT NULL,
    sent_at     TEXT,
    coupon_code TEXT,
    created_at  TEXT NOT NULL,
    UNIQUE (rule_id, member_id, trigger_seq)
);
CREATE INDEX offer_sends_due ON offer_sends (due_at, id) WHERE status = 'scheduled';
CREATE INDEX offer_sends_member ON offer_sends (member_id, rule_id, id);

CREATE TABLE coupons (
    id              INTEGER PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    rule_id         INTEGER NOT NULL REFERENCES offer_rules (id),
    member_id       INTEGER NOT NULL REFERENCES members (id),
    value_minor     INTEGER NOT NULL CHECK (value_minor >= 0),
    min_total_minor INTEGER NOT NULL CHECK (min_total_minor >= 0),
    valid_from      TEXT NOT NULL,
    valid_until     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('issued', 'redeemed')),
    order_id        INTEGER REFERENCES orders (id),
    redeemed_at     TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX coupons_member ON coupons (member_id, rule_id);
