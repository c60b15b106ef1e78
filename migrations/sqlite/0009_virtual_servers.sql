-- Virtual servers (issue #4 point 3): named bundles of a tenant's tools, prompts and
-- resources, each served at /mcp/{tenant}/{name}. Lists of name patterns, as JSON arrays.
CREATE TABLE virtual_servers (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tools       TEXT NOT NULL DEFAULT '[]',
    prompts     TEXT NOT NULL DEFAULT '[]',
    resources   TEXT NOT NULL DEFAULT '[]',
    bare_names  BOOLEAN NOT NULL DEFAULT FALSE,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT virtual_servers_tenant_name_key UNIQUE (tenant_id, name)
);

-- Part of the gateway configuration each replica caches (0008).
CREATE TRIGGER virtual_servers_config_insert AFTER INSERT ON virtual_servers BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER virtual_servers_config_update AFTER UPDATE ON virtual_servers BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER virtual_servers_config_delete AFTER DELETE ON virtual_servers BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = OLD.tenant_id;
END;

-- An upstream's tool filter: which of its tools the gateway offers at all, apart from who
-- may call them. {"include": [globs], "exclude": [globs]} over its own names.
ALTER TABLE upstreams ADD COLUMN tool_filter TEXT NOT NULL DEFAULT '{}';
