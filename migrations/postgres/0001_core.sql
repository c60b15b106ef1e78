-- Core entities (issue #2). UUIDv7 ids, timestamptz, jsonb. Every tenant-owned row has
-- tenant_id; row-level security policies keyed on it arrive with the identity issue (#3).

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    slug        TEXT NOT NULL,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    email_lower     TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    password_hash   TEXT,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    platform_admin  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email_lower)
);
CREATE INDEX users_tenant_idx ON users (tenant_id, id);

CREATE TABLE roles (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    permissions  JSONB NOT NULL DEFAULT '[]',
    builtin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT roles_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE role_assignments (
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id     UUID NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX role_assignments_tenant_idx ON role_assignments (tenant_id);

CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    scopes        JSONB NOT NULL DEFAULT '[]',
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT api_keys_prefix_key UNIQUE (prefix)
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, user_id);

CREATE TABLE upstreams (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    transport        TEXT NOT NULL CHECK (transport IN ('stdio', 'streamable_http', 'sse')),
    config           JSONB NOT NULL DEFAULT '{}',
    credentials_enc  BYTEA,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    tags             JSONB NOT NULL DEFAULT '[]',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT upstreams_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE tool_policies (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    effect        TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
    tool_pattern  TEXT NOT NULL,
    role_id       UUID REFERENCES roles (id) ON DELETE CASCADE,
    conditions    JSONB NOT NULL DEFAULT '[]',
    priority      INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT tool_policies_tenant_name_key UNIQUE (tenant_id, name)
);

-- Audit records outlive their tenant (compliance): no foreign key to tenants.
CREATE TABLE audit_events (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL,
    seq          BIGINT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL DEFAULT '',
    outcome      TEXT NOT NULL,
    rule         TEXT,
    request_id   TEXT,
    client_addr  TEXT,
    detail       JSONB NOT NULL DEFAULT '{}',
    prev_hash    BYTEA NOT NULL,
    hash         BYTEA NOT NULL,
    CONSTRAINT audit_events_tenant_seq_key UNIQUE (tenant_id, seq)
);
CREATE INDEX audit_events_tenant_at_idx ON audit_events (tenant_id, at);

-- The newest (seq, hash) of each tenant's audit chain, updated in the append transaction,
-- so that removing the newest records is detected too.
CREATE TABLE audit_heads (
    tenant_id  UUID PRIMARY KEY,
    seq        BIGINT NOT NULL,
    hash       BYTEA NOT NULL
);
