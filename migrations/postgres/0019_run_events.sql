-- Run events (issue #5 point 3): what each step did, stored for replay in the transaction
-- that commits it. One row holds one batch (a step's node, tool call and state events, or
-- one status change), keyed by the batch's last event id; ids are increasing per run.
CREATE TABLE workflow_events (
    run_id     UUID NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant_id  UUID NOT NULL,
    seq        BIGINT NOT NULL,
    events     JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX workflow_events_run_seq ON workflow_events (run_id, seq);

-- The second tenant wall, as for every tenant-owned table (0006_row_level_security.sql).
ALTER TABLE workflow_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE workflow_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON workflow_events USING (
    tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
    OR current_setting('app.platform', true) = 'on');
