-- When the customer was first contacted about a work order (the follow-up
-- step's SLA is "first contact within 2 business hours"); each contact is
-- a workorder.contacted event.

ALTER TABLE work_orders ADD COLUMN contacted_at TEXT;
