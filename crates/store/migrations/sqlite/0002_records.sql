-- Records: one row per (agency, source record id, revision). History is kept: a higher revision
-- marks the earlier row not current. Raw personal identifiers are never stored, only keyed
-- pseudonyms (with the key id). Timestamps are RFC 3339 UTC text, dates ISO 8601 text.
CREATE TABLE records (
    record_id               INTEGER PRIMARY KEY AUTOINCREMENT,
    agency_id               TEXT    NOT NULL,
    source_record_id        TEXT    NOT NULL,
    revision                INTEGER NOT NULL CHECK (revision >= 1),
    is_current              INTEGER NOT NULL CHECK (is_current IN (0, 1)),
    retracted               INTEGER NOT NULL DEFAULT 0 CHECK (retracted IN (0, 1)),
    retracted_at            TEXT,
    event_kind              TEXT    NOT NULL,
    definition_version      TEXT    NOT NULL,
    local_scheme            TEXT    NOT NULL,
    local_code              TEXT    NOT NULL,
    category                TEXT    NOT NULL,
    harm_rank               INTEGER NOT NULL,
    course_of_conduct       INTEGER NOT NULL CHECK (course_of_conduct IN (0, 1)),
    event_time              TEXT    NOT NULL,
    event_date              TEXT    NOT NULL,
    recorded_time           TEXT    NOT NULL,
    period_start            TEXT    NOT NULL,
    period_end              TEXT    NOT NULL,
    counting_unit           TEXT    NOT NULL,
    area_code               TEXT    NOT NULL,
    area_level              TEXT    NOT NULL,
    pseudonym_key_id        TEXT    NOT NULL,
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
    domestic_abuse_flag     INTEGER,
    event_detail            TEXT    NOT NULL,
    ingested_at             TEXT    NOT NULL,
    UNIQUE (agency_id, source_record_id, revision)
);

-- At most one current row per source record: the guard against two replicas superseding at once.
CREATE UNIQUE INDEX records_one_current
    ON records (agency_id, source_record_id) WHERE is_current = 1;
-- Linking a journey: charging decisions look up the referral of the same case.
CREATE INDEX records_police_ref ON records (police_ref_pseudonym, event_kind)
    WHERE police_ref_pseudonym IS NOT NULL;
CREATE INDEX records_victim ON records (victim_pseudonym) WHERE victim_pseudonym IS NOT NULL;
CREATE INDEX records_kind_date ON records (event_kind, event_date) WHERE is_current = 1;
