-- Aggregates maintained at ingest (see vawg_hub::aggregate). agg_counts is what queries read;
-- agg_contrib remembers what each entity (record, relationship, case, victim, suspect)
-- contributed, so that a change to the entity can be applied as a difference.
CREATE TABLE agg_counts (
    series             TEXT NOT NULL,
    month              TEXT NOT NULL,
    area               TEXT NOT NULL,
    category           TEXT NOT NULL,
    sex                TEXT NOT NULL,
    age_band           TEXT NOT NULL,
    ethnic_group       TEXT NOT NULL,
    disability         TEXT NOT NULL,
    immigration_status TEXT NOT NULL,
    subtype            TEXT NOT NULL,
    bucket             BIGINT NOT NULL,
    n_all              BIGINT NOT NULL,
    n_principal        BIGINT NOT NULL,
    n_principal_coc    BIGINT NOT NULL,
    amount             BIGINT NOT NULL,
    PRIMARY KEY (series, month, area, category, sex, age_band, ethnic_group, disability,
                 immigration_status, subtype, bucket)
);

CREATE TABLE agg_contrib (
    entity             TEXT NOT NULL,
    series             TEXT NOT NULL,
    month              TEXT NOT NULL,
    area               TEXT NOT NULL,
    category           TEXT NOT NULL,
    sex                TEXT NOT NULL,
    age_band           TEXT NOT NULL,
    ethnic_group       TEXT NOT NULL,
    disability         TEXT NOT NULL,
    immigration_status TEXT NOT NULL,
    subtype            TEXT NOT NULL,
    bucket             BIGINT NOT NULL,
    n_all              BIGINT NOT NULL,
    n_principal        BIGINT NOT NULL,
    n_principal_coc    BIGINT NOT NULL,
    amount             BIGINT NOT NULL,
    PRIMARY KEY (entity, series, month, area, category, sex, age_band, ethnic_group, disability,
                 immigration_status, subtype, bucket)
);

-- Entity look-ups when aggregates are refreshed.
CREATE INDEX records_suspect ON records (suspect_pseudonym) WHERE suspect_pseudonym IS NOT NULL;
