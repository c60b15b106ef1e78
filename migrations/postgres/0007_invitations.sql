-- Invitations (issue #3 point 11): an administrator invites an address; the invitee sets a
-- password through a single-use link. Only the SHA-256 of the link's secret is stored.
CREATE TABLE invitations (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL,
    invited_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT invitations_user_key UNIQUE (user_id)
);
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, id);

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON invitations USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
