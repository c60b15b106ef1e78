-- Workflows (issue #5): versioned graph definitions per tenant, their runs, and each run's
-- checkpoints. A step commits its checkpoint and the run's new position in one transaction;
-- the nodes of a parallel step record their results (`workflow_writes`) as they finish, so a
-- resumed step runs only the nodes that had not finished.
CREATE TABLE workflows (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT workflows_tenant_name_key UNIQUE (tenant_id, name)
);

-- Every version ever saved: a run executes the version it started with.
CREATE TABLE workflow_versions (
    workflow_id BLOB NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_by  BLOB,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    workflow_id BLOB NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    step        BIGINT NOT NULL,
    state       TEXT NOT NULL,
    next        TEXT NOT NULL,
    waiting_on  TEXT NOT NULL DEFAULT '[]',
    error       TEXT,
    started_by  BLOB NOT NULL,
    -- The starter's own tenant (a platform administrator's is not the run's).
    started_in  BLOB NOT NULL,
    -- The permissions the starter's credential held: the run never acts beyond them.
    scopes      TEXT NOT NULL,
    forked_from BLOB,
    deadline_at TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX workflow_runs_tenant_created ON workflow_runs (tenant_id, created_at DESC);
-- The sweeper's question: which runs may need an executor.
CREATE INDEX workflow_runs_running ON workflow_runs (status) WHERE status = 'running';

CREATE TABLE workflow_checkpoints (
    run_id     BLOB NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant_id  BLOB NOT NULL,
    step       BIGINT NOT NULL,
    ran        TEXT NOT NULL,
    state      TEXT NOT NULL,
    outputs    TEXT NOT NULL,
    next       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE workflow_writes (
    run_id     BLOB NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant_id  BLOB NOT NULL,
    step       BIGINT NOT NULL,
    node       TEXT NOT NULL,
    write      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step, node)
);
