-- What each aggregate entity (record, relationship, case, victim, suspect) contributes, one row
-- per entity with its facts in a compact encoding (vawg_store::aggregates::StoredFacts),
-- replacing agg_contrib's one row per fact: the per-fact rows and their twelve-column key were a
-- third of the aggregator's time. Entity keys hold pseudonyms only, never identifiers.
CREATE TABLE agg_entities (
    entity TEXT  PRIMARY KEY NOT NULL,
    facts  BLOB NOT NULL
) WITHOUT ROWID;

-- The old per-fact rows cannot be carried over without decoding them, so every aggregate is
-- rebuilt: the tables are emptied and every current record is queued for the aggregator (the
-- first read, or the background aggregator, brings them back).
DROP TABLE agg_contrib;
DELETE FROM agg_counts;
DELETE FROM agg_rollup;
DELETE FROM agg_rollup_scope;
INSERT INTO agg_queue (record_id) SELECT record_id FROM records WHERE is_current = 1;
