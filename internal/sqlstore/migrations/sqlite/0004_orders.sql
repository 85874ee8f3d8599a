-- Members (the minimum orders need), orders and fulfillments.

CREATE TABLE members (
    id         INTEGER PRIMARY KEY,
    phone      TEXT UNIQUE,
    email      TEXT UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    external_id TEXT NOT NULL UNIQUE,
    channel     TEXT NOT NULL CHECK (channel IN ('online', 'store')),
    store_id    INTEGER REFERENCES locations (id),
    member_id   INTEGER REFERENCES members (id),
    coupon      TEXT,
    ship_to     TEXT,
    total_minor INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('placed', 'cancelled')),
    placed_at   TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX orders_member ON orders (member_id, id) WHERE member_id IS NOT NULL;
CREATE INDEX orders_store ON orders (store_id, id) WHERE store_id IS NOT NULL;

CREATE TABLE order_lines (
    order_id         INTEGER NOT NULL REFERENCES orders (id),
    line_no          INTEGER NOT NULL,
    product_id       INTEGER NOT NULL REFERENCES products (id),
    qty              INTEGER NOT NULL CHECK (qty > 0),
    unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE fulfillments (
    id             INTEGER PRIMARY KEY,
    order_id       INTEGER NOT NULL UNIQUE REFERENCES orders (id),
    location_id    INTEGER NOT NULL REFERENCES locations (id),
    status         TEXT NOT NULL CHECK (status IN ('reserved', 'backordered', 'picked', 'shipped', 'delivered', 'cancelled')),
    reservation_id INTEGER REFERENCES reservations (id),
    rule           TEXT NOT NULL,
    short          TEXT,
    tracking       TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    picked_at      TEXT,
    shipped_at     TEXT,
    delivered_at   TEXT,
    cancelled_at   TEXT
);
CREATE INDEX fulfillments_status ON fulfillments (status, id);
CREATE INDEX fulfillments_location ON fulfillments (location_id, status, id);
