-- Exchange (0300+): sealing keys per agency, and the notifications outbox with per-recipient
-- sequences and acknowledgements.

-- Public keys agencies register so that senders can seal identifying details to them (HPKE,
-- X25519). Only public keys: the hub never holds a private key.
CREATE TABLE sealing_keys (
    agency_id     TEXT        NOT NULL,
    key_id        TEXT        NOT NULL,
    public_key    BYTEA       NOT NULL,
    is_current    BOOLEAN     NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (agency_id, key_id)
);
CREATE UNIQUE INDEX sealing_keys_one_current ON sealing_keys (agency_id) WHERE is_current;

-- One row per (recipient, topic): the last sequence assigned and the last acknowledged.
-- Sequences are assigned inside the ingest transaction while this row is locked (FOR UPDATE
-- by the upsert), so they are gap-free and commit in order across replicas.
CREATE TABLE notification_cursors (
    agency_id     TEXT   NOT NULL,
    topic         TEXT   NOT NULL,
    last_sequence BIGINT NOT NULL CHECK (last_sequence >= 0),
    acknowledged  BIGINT NOT NULL DEFAULT 0 CHECK (acknowledged >= 0),
    PRIMARY KEY (agency_id, topic)
);

-- The outbox: filled in the ingest transaction, so a notification exists exactly when its
-- record is committed, and survives restarts until delivered (and after, for audit).
-- `content` is the encoded vawg.v1.Notification: minimal content, sealed details as ciphertext.
CREATE TABLE notifications (
    recipient_agency_id TEXT        NOT NULL,
    topic               TEXT        NOT NULL,
    sequence            BIGINT      NOT NULL CHECK (sequence >= 1),
    record_id           BIGINT      NOT NULL REFERENCES records (record_id),
    source_agency_id    TEXT        NOT NULL,
    content             BYTEA       NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (recipient_agency_id, topic, sequence)
);
