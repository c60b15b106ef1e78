-- The gateway as an OAuth client of its upstreams (issue #4): what it was granted for each
-- OAuth-protected upstream. `sealed` is the vault's blob (client registration, access and
-- refresh tokens), opened only with the upstream's tenant and id as context; the other
-- columns say where the grant stands, for the console, and hold no secret.
CREATE TABLE upstream_oauth (
    upstream_id    UUID PRIMARY KEY REFERENCES upstreams (id) ON DELETE CASCADE,
    tenant_id      UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sealed         BYTEA,
    scope          TEXT,
    required_scope TEXT,
    expires_at     TIMESTAMPTZ,
    refreshable    BOOLEAN NOT NULL DEFAULT FALSE,
    authorized_by  UUID,
    authorized_at  TIMESTAMPTZ,
    last_error     TEXT,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE upstream_oauth ENABLE ROW LEVEL SECURITY;
ALTER TABLE upstream_oauth FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON upstream_oauth USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
