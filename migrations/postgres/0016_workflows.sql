-- Workflows (issue #5): versioned graph definitions per tenant, their runs, and each run's
-- checkpoints. A step commits its checkpoint and the run's new position in one transaction;
-- the nodes of a parallel step record their results (`workflow_writes`) as they finish, so a
-- resumed step runs only the nodes that had not finished.
CREATE TABLE workflows (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL,
    definition  JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT workflows_tenant_name_key UNIQUE (tenant_id, name)
);

-- Every version ever saved: a run executes the version it started with.
CREATE TABLE workflow_versions (
    workflow_id UUID NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    definition  JSONB NOT NULL,
    created_by  UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    workflow_id UUID NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    step        BIGINT NOT NULL,
    state       JSONB NOT NULL,
    next        JSONB NOT NULL,
    waiting_on  JSONB NOT NULL DEFAULT '[]',
    error       TEXT,
    started_by  UUID NOT NULL,
    -- The starter's own tenant (a platform administrator's is not the run's).
    started_in  UUID NOT NULL,
    -- The permissions the starter's credential held: the run never acts beyond them.
    scopes      JSONB NOT NULL,
    forked_from UUID,
    deadline_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX workflow_runs_tenant_created ON workflow_runs (tenant_id, created_at DESC);
-- The sweeper's question: which runs may need an executor.
CREATE INDEX workflow_runs_running ON workflow_runs (status) WHERE status = 'running';

CREATE TABLE workflow_checkpoints (
    run_id     UUID NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant_id  UUID NOT NULL,
    step       BIGINT NOT NULL,
    ran        JSONB NOT NULL,
    state      JSONB NOT NULL,
    outputs    JSONB NOT NULL,
    next       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE workflow_writes (
    run_id     UUID NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant_id  UUID NOT NULL,
    step       BIGINT NOT NULL,
    node       TEXT NOT NULL,
    write      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, step, node)
);

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE workflows ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflows FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON workflows USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE workflow_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflow_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON workflow_versions USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE workflow_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflow_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON workflow_runs USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE workflow_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflow_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON workflow_checkpoints USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
ALTER TABLE workflow_writes ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflow_writes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON workflow_writes USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
