-- Records: one row per (agency, source record id, revision). History is kept: a higher revision
-- marks the earlier row not current. Raw personal identifiers are never stored, only keyed
-- pseudonyms (with the key id).
CREATE TABLE records (
    record_id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agency_id               TEXT        NOT NULL,
    source_record_id        TEXT        NOT NULL,
    revision                INTEGER     NOT NULL CHECK (revision >= 1),
    is_current              BOOLEAN     NOT NULL,
    retracted               BOOLEAN     NOT NULL DEFAULT false,
    retracted_at            TIMESTAMPTZ,
    event_kind              TEXT        NOT NULL,
    definition_version      TEXT        NOT NULL,
    local_scheme            TEXT        NOT NULL,
    local_code              TEXT        NOT NULL,
    category                TEXT        NOT NULL,
    harm_rank               INTEGER     NOT NULL,
    course_of_conduct       BOOLEAN     NOT NULL,
    event_time              TIMESTAMPTZ NOT NULL,
    event_date              DATE        NOT NULL,
    recorded_time           TIMESTAMPTZ NOT NULL,
    period_start            DATE        NOT NULL,
    period_end              DATE        NOT NULL,
    counting_unit           TEXT        NOT NULL,
    area_code               TEXT        NOT NULL,
    area_level              TEXT        NOT NULL,
    pseudonym_key_id        TEXT        NOT NULL,
    victim_pseudonym        TEXT,
    suspect_pseudonym       TEXT,
    police_ref_pseudonym    TEXT,
    cps_urn_pseudonym       TEXT,
    court_case_pseudonym    TEXT,
    victim_sex              TEXT,
    victim_age              INTEGER,
    victim_ethnic_group     TEXT,
    victim_disability       TEXT,
    victim_sexual_orientation TEXT,
    victim_gender_identity  TEXT,
    -- PROTECTED: aggregate statistics only; never returned at record level.
    victim_immigration_status TEXT,
    decision                TEXT,
    stage                   TEXT,
    order_type              TEXT,
    reason                  TEXT,
    referring_agency        TEXT,
    service_type            TEXT,
    setting                 TEXT,
    to_agency_id            TEXT,
    domestic_abuse_flag     BOOLEAN,
    event_detail            JSONB       NOT NULL,
    ingested_at             TIMESTAMPTZ NOT NULL,
    UNIQUE (agency_id, source_record_id, revision)
);

-- At most one current row per source record: the guard against two replicas superseding at once.
CREATE UNIQUE INDEX records_one_current
    ON records (agency_id, source_record_id) WHERE is_current;
-- Linking a journey: charging decisions look up the referral of the same case.
CREATE INDEX records_police_ref ON records (police_ref_pseudonym, event_kind)
    WHERE police_ref_pseudonym IS NOT NULL;
CREATE INDEX records_victim ON records (victim_pseudonym) WHERE victim_pseudonym IS NOT NULL;
CREATE INDEX records_kind_date ON records (event_kind, event_date) WHERE is_current;
