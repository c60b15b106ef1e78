-- The gateway as an OAuth client of its upstreams (issue #4): what it was granted for each
-- OAuth-protected upstream. `sealed` is the vault's blob (client registration, access and
-- refresh tokens), opened only with the upstream's tenant and id as context; the other
-- columns say where the grant stands, for the console, and hold no secret.
CREATE TABLE upstream_oauth (
    upstream_id    BLOB PRIMARY KEY NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    tenant_id      BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sealed         BLOB,
    scope          TEXT,
    required_scope TEXT,
    expires_at     TEXT,
    refreshable    BOOLEAN NOT NULL DEFAULT FALSE,
    authorized_by  BLOB,
    authorized_at  TEXT,
    last_error     TEXT,
    updated_at     TEXT NOT NULL
);
