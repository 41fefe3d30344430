-- Poison rows: an event the sidecar refuses for what it is (a 4xx about the event) or
-- that fails alone while the rest of its bulk publish succeeds is parked after
-- [relay] max_rejections such failures, instead of blocking the head of the queue.
-- Parked rows stay for an operator (and count in learnflow_outbox_parked).
ALTER TABLE outbox
    ADD COLUMN rejections integer     NOT NULL DEFAULT 0,
    ADD COLUMN parked_at  timestamptz;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL AND parked_at IS NULL;
