-- LLM providers (issue #5 point 4): a tenant's OpenAI-compatible endpoints, the tokens each
-- request used, and the tenant's monthly token budget.
CREATE TABLE llm_providers (
    id              BLOB PRIMARY KEY NOT NULL,
    tenant_id       BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    flavor          TEXT NOT NULL,
    base_url        TEXT NOT NULL,
    model           TEXT NOT NULL,
    embedding_model TEXT,
    api_version     TEXT,
    -- Sealed by the vault (AES-256-GCM), bound to the provider's id.
    api_key_enc     BLOB,
    timeout_secs    INTEGER NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CONSTRAINT llm_providers_tenant_name_key UNIQUE (tenant_id, name)
);

-- One row per request to a provider. Not tied to runs by a foreign key: a deleted run's
-- tokens still count against the month's budget.
CREATE TABLE llm_usage (
    id                BLOB PRIMARY KEY NOT NULL,
    tenant_id         BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    purpose           TEXT NOT NULL,
    run_id            BLOB,
    user_id           BLOB,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    at                TEXT NOT NULL
);
CREATE INDEX llm_usage_tenant_at ON llm_usage (tenant_id, at);
CREATE INDEX llm_usage_run ON llm_usage (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE llm_budgets (
    tenant_id      BLOB PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    monthly_tokens BIGINT
);
