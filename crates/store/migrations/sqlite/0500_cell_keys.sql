-- Cell keys for cell-key perturbation (issue #19, docs/disclosure.md §2): beside its counts,
-- every aggregate cell keeps the plain sum of the unit keys (0..=255) of the units each count
-- counts, a unit counted n times adding n × its key (vawg_domain::aggregate::FactValue). The
-- cell key is that sum modulo 256; plain sums add and subtract with the counts, through the
-- aggregator's deltas and the roll-ups, exactly as the counts do.
ALTER TABLE agg_counts ADD COLUMN k_all BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_counts ADD COLUMN k_principal BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_counts ADD COLUMN k_principal_coc BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup ADD COLUMN k_all BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup ADD COLUMN k_principal BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup ADD COLUMN k_principal_coc BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup_scope ADD COLUMN k_all BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup_scope ADD COLUMN k_principal BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agg_rollup_scope ADD COLUMN k_principal_coc BIGINT NOT NULL DEFAULT 0;

-- The hub's cell-key secret: the HMAC key every unit key is drawn with
-- (vawg_domain::cellkey::unit_key). One row, 32 random bytes generated here, once, by SQLite's
-- randomness (seeded from the operating system's). NEVER ROTATED OR REPLACED: a new secret
-- redraws the noise of every cell, and anyone who kept earlier answers then holds two
-- independent draws of each cell to average. Whoever can read it and the unit identifiers can
-- compute every cell's noise: the store reads it only to key aggregates, and never logs it.
CREATE TABLE cell_key_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB    NOT NULL CHECK (length(secret) >= 32)
);
INSERT INTO cell_key_secret (id, secret) VALUES (1, randomblob(32));

-- Every stored contribution lacks its keys, so every aggregate is rebuilt (as in 0401): the
-- tables are emptied and every current record is queued for the aggregator (the first read,
-- or the background aggregator, brings them back, keyed).
DELETE FROM agg_entities;
DELETE FROM agg_counts;
DELETE FROM agg_rollup;
DELETE FROM agg_rollup_scope;
INSERT INTO agg_queue (record_id) SELECT record_id FROM records WHERE is_current = 1;
