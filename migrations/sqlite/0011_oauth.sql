-- OAuth 2.1 for MCP clients (issue #4 point 6). Each tenant is its own authorization server
-- at /oauth/{tenant}: clients registered there (RFC 7591), the consent each user gave each
-- client, and refresh-token families bound to the client and resource they were issued for.
CREATE TABLE oauth_clients (
    id            BLOB PRIMARY KEY NOT NULL,
    tenant_id     BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    client_name   TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    client_uri    TEXT,
    created_at    TEXT NOT NULL,
    CONSTRAINT oauth_clients_client_key UNIQUE (tenant_id, client_id)
);

-- What a user allowed a client (by client_id: a registered id or a metadata document URL).
CREATE TABLE oauth_consents (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    client_name TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    granted_at  TEXT NOT NULL,
    CONSTRAINT oauth_consents_user_client_key UNIQUE (tenant_id, user_id, client_id)
);

-- A family issued through OAuth may only be refreshed by its client, for its resource.
ALTER TABLE refresh_tokens ADD COLUMN client_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN audience TEXT;
