-- Coarser roll-ups of agg_counts (see vawg_store::rollup): agg_counts summed over the
-- dimensions each leaves out. They receive the same deltas as agg_counts, in the same
-- transaction, so each always equals agg_counts grouped by its key. A query reads the narrowest
-- table that has every dimension it groups by or filters on.
--
-- The key starts with (series, month): every read names its series and a month range.
-- WITHOUT ROWID: the rows are stored in key order, so such a read is one range of the table.

-- By area, category and the victim-scope columns (sex, age band); the days bucket is 0 outside
-- the days series.
CREATE TABLE agg_rollup (
    series          TEXT NOT NULL,
    month           TEXT NOT NULL,
    area            TEXT NOT NULL,
    category        TEXT NOT NULL,
    sex             TEXT NOT NULL,
    age_band        TEXT NOT NULL,
    bucket          BIGINT NOT NULL,
    n_all           BIGINT NOT NULL,
    n_principal     BIGINT NOT NULL,
    n_principal_coc BIGINT NOT NULL,
    amount          BIGINT NOT NULL,
    PRIMARY KEY (series, month, area, category, sex, age_band, bucket)
) WITHOUT ROWID;

-- By area and the victim-scope columns only: time series without a category.
CREATE TABLE agg_rollup_scope (
    series          TEXT NOT NULL,
    month           TEXT NOT NULL,
    area            TEXT NOT NULL,
    sex             TEXT NOT NULL,
    age_band        TEXT NOT NULL,
    bucket          BIGINT NOT NULL,
    n_all           BIGINT NOT NULL,
    n_principal     BIGINT NOT NULL,
    n_principal_coc BIGINT NOT NULL,
    amount          BIGINT NOT NULL,
    PRIMARY KEY (series, month, area, sex, age_band, bucket)
) WITHOUT ROWID;

-- From what agg_counts holds already (rows whose counters are all zero mean nothing).
INSERT INTO agg_rollup (series, month, area, category, sex, age_band, bucket,
                        n_all, n_principal, n_principal_coc, amount)
SELECT series, month, area, category, sex, age_band, bucket,
       SUM(n_all), SUM(n_principal), SUM(n_principal_coc), SUM(amount)
FROM agg_counts
WHERE NOT (n_all = 0 AND n_principal = 0 AND n_principal_coc = 0 AND amount = 0)
GROUP BY series, month, area, category, sex, age_band, bucket;

INSERT INTO agg_rollup_scope (series, month, area, sex, age_band, bucket,
                              n_all, n_principal, n_principal_coc, amount)
SELECT series, month, area, sex, age_band, bucket,
       SUM(n_all), SUM(n_principal), SUM(n_principal_coc), SUM(amount)
FROM agg_rollup
GROUP BY series, month, area, sex, age_band, bucket;
