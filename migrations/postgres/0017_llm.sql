-- LLM providers (issue #5 point 4): a tenant's OpenAI-compatible endpoints, the tokens each
-- request used, and the tenant's monthly token budget.
CREATE TABLE llm_providers (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    flavor          TEXT NOT NULL,
    base_url        TEXT NOT NULL,
    model           TEXT NOT NULL,
    embedding_model TEXT,
    api_version     TEXT,
    -- Sealed by the vault (AES-256-GCM), bound to the provider's id.
    api_key_enc     BYTEA,
    timeout_secs    INTEGER NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT llm_providers_tenant_name_key UNIQUE (tenant_id, name)
);

-- One row per request to a provider. Not tied to runs by a foreign key: a deleted run's
-- tokens still count against the month's budget.
CREATE TABLE llm_usage (
    id                UUID PRIMARY KEY,
    tenant_id         UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    purpose           TEXT NOT NULL,
    run_id            UUID,
    user_id           UUID,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX llm_usage_tenant_at ON llm_usage (tenant_id, at);
CREATE INDEX llm_usage_run ON llm_usage (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE llm_budgets (
    tenant_id      UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    monthly_tokens BIGINT
);

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE llm_providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_providers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON llm_providers USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE llm_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON llm_usage USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE llm_budgets ENABLE ROW LEVEL SECURITY;
ALTER TABLE llm_budgets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON llm_budgets USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
