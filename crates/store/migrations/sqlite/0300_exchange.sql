-- Exchange (0300+): sealing keys per agency, and the notifications outbox with per-recipient
-- sequences and acknowledgements. Timestamps are RFC 3339 UTC text.

-- Public keys agencies register so that senders can seal identifying details to them (HPKE,
-- X25519). Only public keys: the hub never holds a private key.
CREATE TABLE sealing_keys (
    agency_id     TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    public_key    BLOB    NOT NULL,
    is_current    INTEGER NOT NULL CHECK (is_current IN (0, 1)),
    registered_at TEXT    NOT NULL,
    PRIMARY KEY (agency_id, key_id)
);
CREATE UNIQUE INDEX sealing_keys_one_current ON sealing_keys (agency_id) WHERE is_current = 1;

-- One row per (recipient, topic): the last sequence assigned and the last acknowledged.
-- Sequences are assigned inside the ingest transaction while this row is locked, so they are
-- gap-free and become visible in order.
CREATE TABLE notification_cursors (
    agency_id     TEXT    NOT NULL,
    topic         TEXT    NOT NULL,
    last_sequence INTEGER NOT NULL CHECK (last_sequence >= 0),
    acknowledged  INTEGER NOT NULL DEFAULT 0 CHECK (acknowledged >= 0),
    PRIMARY KEY (agency_id, topic)
);

-- The outbox: filled in the ingest transaction, so a notification exists exactly when its
-- record is committed, and survives restarts until delivered (and after, for audit).
-- `content` is the encoded vawg.v1.Notification: minimal content, sealed details as ciphertext.
CREATE TABLE notifications (
    recipient_agency_id TEXT    NOT NULL,
    topic               TEXT    NOT NULL,
    sequence            INTEGER NOT NULL CHECK (sequence >= 1),
    record_id           INTEGER NOT NULL REFERENCES records (record_id),
    source_agency_id    TEXT    NOT NULL,
    content             BLOB    NOT NULL,
    created_at          TEXT    NOT NULL,
    PRIMARY KEY (recipient_agency_id, topic, sequence)
);
