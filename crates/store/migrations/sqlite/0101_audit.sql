-- The append-only audit log of every firewall decision (RFC 6962 leaves, hash-chained) and the
-- signed tree heads the hub has issued. Rows are never updated or deleted: triggers refuse it.
CREATE TABLE audit_log (
    idx        INTEGER PRIMARY KEY NOT NULL,
    agency_id  TEXT NOT NULL,
    -- Canonical JSON of the entry: exactly the bytes the leaf hash covers.
    entry      TEXT NOT NULL,
    -- Hex SHA-256(0x00 || entry).
    leaf_hash  TEXT NOT NULL,
    -- Hex SHA-256(previous chain_hash || leaf_hash); the first entry chains from 32 zero bytes.
    chain_hash TEXT NOT NULL
);
CREATE INDEX audit_log_agency ON audit_log (agency_id, idx);

CREATE TABLE audit_heads (
    tree_size    INTEGER PRIMARY KEY NOT NULL,
    root_hash    TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    signature    TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    algorithm    TEXT NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_heads_no_update BEFORE UPDATE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'signed tree heads are append-only'); END;
CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'signed tree heads are append-only'); END;
