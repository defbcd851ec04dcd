-- The aggregate maintenance queue: the ingest (and retraction) transaction records here the ids
-- of the records it inserted, superseded or retracted, in the same transaction as the change,
-- so no acknowledged change can be missed. The aggregator (a background task, and every read
-- of the aggregates first) drains it: it recomputes the entities of the queued records from
-- their current state and applies the difference to the aggregate tables, then deletes the
-- rows it processed, all in one transaction. Only integer ids: nothing personal.
CREATE TABLE agg_queue (
    seq       BIGSERIAL PRIMARY KEY,
    record_id BIGINT NOT NULL
);
