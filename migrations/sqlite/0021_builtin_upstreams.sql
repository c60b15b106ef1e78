-- Built-in MCP servers (issue #6) are upstreams with the `builtin` transport. SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt (sqlite.org/lang_altertable.html
-- §7): a copy with the new constraint, the rows moved over, the old table dropped and the
-- copy renamed. Dropping the old table cascades to `upstream_oauth`, so its rows are kept
-- aside and put back; the index and the config-version triggers go with the old table and
-- are made again.
CREATE TABLE upstreams_new (
    id               BLOB PRIMARY KEY NOT NULL,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    transport        TEXT NOT NULL CHECK (transport IN ('stdio', 'streamable_http', 'sse', 'builtin')),
    config           TEXT NOT NULL DEFAULT '{}',
    credentials_enc  BLOB,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    tags             TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    call_timeout_ms  INTEGER NOT NULL DEFAULT 30000,
    secret_names     JSONB NOT NULL DEFAULT '[]',
    tool_filter      TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT upstreams_tenant_name_key UNIQUE (tenant_id, name)
);
INSERT INTO upstreams_new (id, tenant_id, name, transport, config, credentials_enc, enabled,
        tags, created_at, updated_at, description, call_timeout_ms, secret_names, tool_filter)
    SELECT id, tenant_id, name, transport, config, credentials_enc, enabled, tags, created_at,
        updated_at, description, call_timeout_ms, secret_names, tool_filter
    FROM upstreams;

CREATE TEMP TABLE upstream_oauth_kept AS SELECT * FROM upstream_oauth;
DROP TABLE upstreams;
ALTER TABLE upstreams_new RENAME TO upstreams;
INSERT INTO upstream_oauth SELECT * FROM upstream_oauth_kept;
DROP TABLE upstream_oauth_kept;

CREATE INDEX upstreams_tenant_idx ON upstreams (tenant_id, name);
CREATE TRIGGER upstreams_config_insert AFTER INSERT ON upstreams BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER upstreams_config_update AFTER UPDATE ON upstreams BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER upstreams_config_delete AFTER DELETE ON upstreams BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = OLD.tenant_id;
END;
