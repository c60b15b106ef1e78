-- Audit records outlive their tenant (compliance), so no foreign key to tenants; each
-- tenant's chain has a head row, updated in the append transaction, so that deleting the
-- newest records is detected too. Nothing wrote audit_events before this migration.
DROP TABLE audit_events;

CREATE TABLE audit_events (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL DEFAULT '',
    outcome      TEXT NOT NULL,
    rule         TEXT,
    request_id   TEXT,
    client_addr  TEXT,
    detail       TEXT NOT NULL DEFAULT '{}',
    prev_hash    BLOB NOT NULL,
    hash         BLOB NOT NULL,
    CONSTRAINT audit_events_tenant_seq_key UNIQUE (tenant_id, seq)
);
CREATE INDEX audit_events_tenant_at_idx ON audit_events (tenant_id, at);

CREATE TABLE audit_heads (
    tenant_id  BLOB PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    hash       BLOB NOT NULL
);
