-- The append-only audit log of every firewall decision (RFC 6962 leaves, hash-chained) and the
-- signed tree heads the hub has issued. Rows are never updated or deleted: triggers refuse it.
CREATE TABLE audit_log (
    idx        BIGINT PRIMARY KEY NOT NULL,
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
    tree_size    BIGINT PRIMARY KEY NOT NULL,
    root_hash    TEXT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    signature    TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    algorithm    TEXT NOT NULL
);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_heads_append_only BEFORE UPDATE OR DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
