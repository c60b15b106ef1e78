-- Core entities (issue #2). UUIDs are 16-byte BLOBs (UUIDv7: byte order = creation order),
-- timestamps RFC 3339 TEXT in UTC, JSON as TEXT. Every tenant-owned row has tenant_id.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY NOT NULL,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id              BLOB PRIMARY KEY NOT NULL,
    tenant_id       BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    email_lower     TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    password_hash   TEXT,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    platform_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email_lower)
);
CREATE INDEX users_tenant_idx ON users (tenant_id, id);

CREATE TABLE roles (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    permissions  TEXT NOT NULL DEFAULT '[]',
    builtin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CONSTRAINT roles_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE role_assignments (
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id     BLOB NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX role_assignments_tenant_idx ON role_assignments (tenant_id);

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY NOT NULL,
    tenant_id     BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    scopes        TEXT NOT NULL DEFAULT '[]',
    expires_at    TEXT,
    last_used_at  TEXT,
    revoked_at    TEXT,
    created_at    TEXT NOT NULL,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, user_id);

CREATE TABLE upstreams (
    id               BLOB PRIMARY KEY NOT NULL,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    transport        TEXT NOT NULL CHECK (transport IN ('stdio', 'streamable_http', 'sse')),
    config           TEXT NOT NULL DEFAULT '{}',
    credentials_enc  BLOB,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    tags             TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT upstreams_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE tool_policies (
    id            BLOB PRIMARY KEY NOT NULL,
    tenant_id     BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    effect        TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    tool_pattern  TEXT NOT NULL,
    role_id       BLOB REFERENCES roles (id) ON DELETE CASCADE,
    conditions    TEXT NOT NULL DEFAULT '[]',
    priority      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CONSTRAINT tool_policies_tenant_name_key UNIQUE (tenant_id, name)
);

-- Audit records outlive their tenant (compliance): no foreign key to tenants.
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

-- The newest (seq, hash) of each tenant's audit chain, updated in the append transaction,
-- so that removing the newest records is detected too.
CREATE TABLE audit_heads (
    tenant_id  BLOB PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL,
    hash       BLOB NOT NULL
);
