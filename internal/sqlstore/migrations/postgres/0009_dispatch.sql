-- Nearest-store dispatch: on-site work orders carry their service date,
-- the dispatch decision (candidates, exclusions, attempts) and a flag for
-- requests no store could take.

ALTER TABLE work_orders ADD COLUMN service_date TEXT; -- local date YYYY-MM-DD
ALTER TABLE work_orders ADD COLUMN dispatch JSONB;
ALTER TABLE work_orders ADD COLUMN flagged BOOLEAN NOT NULL DEFAULT FALSE;
-- A store's load on a day.
CREATE INDEX work_orders_store_date ON work_orders (service_date, store_id) WHERE service_date IS NOT NULL;
-- The dispatcher's scan for attempts past their acceptance deadline.
CREATE INDEX handoffs_flow_open ON handoffs (flow, status, due_at);
