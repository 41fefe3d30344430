-- Retention of the deduplication keys (ADR 0025): rows older than the dedup window are
-- deleted oldest first, in batches; this index finds them without reading the table.
CREATE INDEX processed_events_by_processed_at ON processed_events (processed_at);
