-- Audit records outlive their tenant (compliance), so no foreign key to tenants; each
-- tenant's chain has a head row, updated in the append transaction, so that deleting the
-- newest records is detected too.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_tenant_id_fkey;

CREATE TABLE audit_heads (
    tenant_id  UUID PRIMARY KEY,
    seq        BIGINT NOT NULL,
    hash       BYTEA NOT NULL
);
