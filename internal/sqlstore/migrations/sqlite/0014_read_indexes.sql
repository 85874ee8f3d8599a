-- Indexes for reads that scanned whole tables: the members merged into a
-- member and a member's feedback (timelines, offer conditions, merges),
-- and the console overview's "today" counts (orders placed, fulfillments
-- delivered, handoffs breached since a time).
CREATE INDEX members_merged_into ON members (merged_into) WHERE merged_into IS NOT NULL;
CREATE INDEX feedback_member ON feedback (member_id, id) WHERE member_id IS NOT NULL;
CREATE INDEX orders_placed_at ON orders (placed_at);
CREATE INDEX fulfillments_delivered_at ON fulfillments (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX handoffs_breached_at ON handoffs (breached_at) WHERE breached_at IS NOT NULL;
