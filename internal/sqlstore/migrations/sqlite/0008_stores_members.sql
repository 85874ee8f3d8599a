-- Channel fusion: stores (locations of kind store with hours, skills,
-- capacity, service radius and staff), member profiles, identities,
-- consents, merges and identity conflicts, member price tiers.

CREATE TABLE stores (
    location_id       INTEGER PRIMARY KEY REFERENCES locations (id),
    hours             TEXT NOT NULL, -- JSON {"mon": [["10:00", "22:00"]], …}
    holidays          TEXT NOT NULL, -- JSON ["2026-10-01", …]
    skills            TEXT NOT NULL, -- JSON ["install", …]
    capacity_per_day  INTEGER NOT NULL CHECK (capacity_per_day >= 0),
    service_radius_km REAL NOT NULL CHECK (service_radius_km >= 0),
    updated_at        TEXT NOT NULL
);

CREATE TABLE store_staff (
    store_id INTEGER NOT NULL REFERENCES locations (id),
    code     TEXT NOT NULL,
    name     TEXT NOT NULL,
    active   INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (store_id, code)
);

CREATE TABLE member_tiers (
    tier             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    discount_percent INTEGER NOT NULL CHECK (discount_percent BETWEEN 0 AND 100),
    updated_at       TEXT NOT NULL
);

ALTER TABLE members ADD COLUMN traits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE members ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE members ADD COLUMN tier TEXT;
ALTER TABLE members ADD COLUMN home_store_id INTEGER REFERENCES locations (id);
ALTER TABLE members ADD COLUMN joined_store_id INTEGER REFERENCES locations (id);
ALTER TABLE members ADD COLUMN joined_staff TEXT;
ALTER TABLE members ADD COLUMN joined_at TEXT;
ALTER TABLE members ADD COLUMN merged_into INTEGER REFERENCES members (id);
ALTER TABLE members ADD COLUMN updated_at TEXT;

-- One identifier belongs to at most one member.
CREATE TABLE member_identities (
    id         INTEGER PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members (id),
    kind       TEXT NOT NULL CHECK (kind IN ('phone', 'email', 'wechat_openid', 'wechat_unionid', 'anonymous_id', 'user_id', 'external')),
    namespace  TEXT NOT NULL DEFAULT '',
    value      TEXT NOT NULL,
    verified   INTEGER NOT NULL DEFAULT 0,
    source     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (kind, namespace, value)
);
CREATE INDEX member_identities_member ON member_identities (member_id, id);

-- Members created by orders before identities existed: their contacts were
-- given by a sales channel, so they count as verified.
INSERT INTO member_identities (member_id, kind, namespace, value, verified, source, created_at)
    SELECT id, 'phone', '', phone, 1, 'order', created_at FROM members WHERE phone IS NOT NULL;
INSERT INTO member_identities (member_id, kind, namespace, value, verified, source, created_at)
    SELECT id, 'email', '', email, 1, 'order', created_at FROM members WHERE email IS NOT NULL;
UPDATE members SET updated_at = created_at;

-- Consent answers, newest last; the latest per purpose is in force.
CREATE TABLE member_consents (
    id        INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id),
    purpose   TEXT NOT NULL,
    granted   INTEGER NOT NULL,
    channel   TEXT NOT NULL,
    store_id  INTEGER REFERENCES locations (id),
    at        TEXT NOT NULL
);
CREATE INDEX member_consents_member ON member_consents (member_id, id);

CREATE TABLE member_merges (
    id             INTEGER PRIMARY KEY,
    into_member_id INTEGER NOT NULL REFERENCES members (id),
    from_member_id INTEGER NOT NULL UNIQUE REFERENCES members (id),
    automatic      INTEGER NOT NULL,
    reason         TEXT NOT NULL,
    actor          TEXT NOT NULL,
    moved          TEXT NOT NULL, -- JSON counts
    at             TEXT NOT NULL
);
CREATE INDEX member_merges_into ON member_merges (into_member_id, id);

CREATE TABLE identity_conflicts (
    id          INTEGER PRIMARY KEY,
    member_a    INTEGER NOT NULL REFERENCES members (id),
    member_b    INTEGER NOT NULL REFERENCES members (id),
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    event_seq   INTEGER,
    status      TEXT NOT NULL CHECK (status IN ('open', 'merged', 'dismissed')),
    created_at  TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT
);
-- One open conflict per pair of members (member_a < member_b).
CREATE UNIQUE INDEX identity_conflicts_open ON identity_conflicts (member_a, member_b) WHERE status = 'open';
CREATE INDEX identity_conflicts_status ON identity_conflicts (status, id);

-- Work orders may be about a member (on-site service requests).
ALTER TABLE work_orders ADD COLUMN member_id INTEGER REFERENCES members (id);
CREATE INDEX work_orders_member ON work_orders (member_id, id) WHERE member_id IS NOT NULL;

-- Orders remember the discount of a member tier and a coupon.
ALTER TABLE orders ADD COLUMN discount_minor INTEGER NOT NULL DEFAULT 0;
