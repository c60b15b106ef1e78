-- Virtual servers (issue #4 point 3): named bundles of a tenant's tools, prompts and
-- resources, each served at /mcp/{tenant}/{name}. Lists of name patterns, as JSON arrays.
CREATE TABLE virtual_servers (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tools       JSONB NOT NULL DEFAULT '[]',
    prompts     JSONB NOT NULL DEFAULT '[]',
    resources   JSONB NOT NULL DEFAULT '[]',
    bare_names  BOOLEAN NOT NULL DEFAULT FALSE,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT virtual_servers_tenant_name_key UNIQUE (tenant_id, name)
);

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE virtual_servers ENABLE ROW LEVEL SECURITY;
ALTER TABLE virtual_servers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON virtual_servers USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');

-- Part of the gateway configuration each replica caches (0010).
CREATE TRIGGER virtual_servers_config_version
    AFTER INSERT OR UPDATE OR DELETE ON virtual_servers
    FOR EACH ROW EXECUTE FUNCTION bump_tenant_config_version();

-- An upstream's tool filter (issue #4 point 3): which of its tools the gateway offers at all,
-- apart from who may call them. {"include": [globs], "exclude": [globs]} over its own names.
ALTER TABLE upstreams ADD COLUMN tool_filter JSONB NOT NULL DEFAULT '{}';
