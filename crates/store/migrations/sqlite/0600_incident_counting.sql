-- Incident-level counting and the common definition vawg-v2 (issue #17, docs/counting.md).
--
-- The counting rules now pick within each victim's incidents (PRINCIPAL_CRIME,
-- PRINCIPAL_PLUS_COURSE_OF_CONDUCT), or across a victim's history (the new
-- ONE_PER_RELATIONSHIP, the NAO's summary), so every aggregate cell gains that rule's counter
-- and its cell-key sum. The aggregator's entities change too (a victim's crimes are one entity,
-- keyed per offence; people supported are distinct people), so every aggregate is rebuilt:
-- the tables are emptied and every current record is queued (the first read, or the
-- background aggregator, brings them back). No acknowledged record is touched.
ALTER TABLE agg_counts ADD COLUMN n_relationship BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_counts ADD COLUMN k_relationship BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup ADD COLUMN n_relationship BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup ADD COLUMN k_relationship BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup_scope ADD COLUMN n_relationship BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup_scope ADD COLUMN k_relationship BIGINT NOT NULL DEFAULT 0;

DELETE FROM agg_entities;
DELETE FROM agg_counts;
DELETE FROM agg_rollup;
DELETE FROM agg_rollup_scope;
INSERT INTO agg_queue (record_id)
    SELECT record_id FROM records
    WHERE is_current = 1 AND record_id NOT IN (SELECT record_id FROM agg_queue);
