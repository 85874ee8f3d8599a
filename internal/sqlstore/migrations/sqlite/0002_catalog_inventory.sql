-- Catalogue, locations and inventory.

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    category    TEXT NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX products_category ON products (category, id);

CREATE TABLE locations (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('warehouse', 'store')),
    name       TEXT NOT NULL,
    address    TEXT NOT NULL,
    lat        REAL,
    lng        REAL,
    timezone   TEXT NOT NULL,
    active     INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per SKU × location; reserved never exceeds on_hand.
CREATE TABLE stock (
    product_id  INTEGER NOT NULL REFERENCES products (id),
    location_id INTEGER NOT NULL REFERENCES locations (id),
    on_hand     INTEGER NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved    INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (product_id, location_id)
);
CREATE INDEX stock_location ON stock (location_id, product_id);

CREATE TABLE stock_adjustments (
    id          INTEGER PRIMARY KEY,
    product_id  INTEGER NOT NULL REFERENCES products (id),
    location_id INTEGER NOT NULL REFERENCES locations (id),
    delta       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    external_id TEXT UNIQUE,
    actor       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE reservations (
    id          INTEGER PRIMARY KEY,
    ref         TEXT NOT NULL UNIQUE,
    location_id INTEGER NOT NULL REFERENCES locations (id),
    status      TEXT NOT NULL CHECK (status IN ('active', 'released', 'consumed')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE reservation_lines (
    reservation_id INTEGER NOT NULL REFERENCES reservations (id),
    product_id     INTEGER NOT NULL REFERENCES products (id),
    qty            INTEGER NOT NULL CHECK (qty > 0),
    PRIMARY KEY (reservation_id, product_id)
);
