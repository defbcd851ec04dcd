-- The agency registry: who may connect. Owned by the identity/firewall work (0100+).
CREATE TABLE agencies (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    -- JSON array of ONS GSS codes of the areas served.
    areas      TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
