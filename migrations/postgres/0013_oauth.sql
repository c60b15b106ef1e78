-- OAuth 2.1 for MCP clients (issue #4 point 6). Each tenant is its own authorization server
-- at /oauth/{tenant}: clients registered there (RFC 7591), the consent each user gave each
-- client, and refresh-token families bound to the client and resource they were issued for.
CREATE TABLE oauth_clients (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    client_name   TEXT NOT NULL,
    redirect_uris JSONB NOT NULL,
    client_uri    TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT oauth_clients_client_key UNIQUE (tenant_id, client_id)
);

-- What a user allowed a client (by client_id: a registered id or a metadata document URL).
CREATE TABLE oauth_consents (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    client_name TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    granted_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT oauth_consents_user_client_key UNIQUE (tenant_id, user_id, client_id)
);

-- A family issued through OAuth may only be refreshed by its client, for its resource.
ALTER TABLE refresh_tokens ADD COLUMN client_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN audience TEXT;

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE oauth_clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_clients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON oauth_clients USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE oauth_consents ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_consents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON oauth_consents USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
