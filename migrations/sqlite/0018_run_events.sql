-- Run events (issue #5 point 3): what each step did, stored for replay in the transaction
-- that commits it. One row holds one batch (a step's node, tool call and state events, or
-- one status change), keyed by the batch's last event id; ids are increasing per run.
CREATE TABLE workflow_events (
    run_id     BLOB NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    tenant_id  BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    events     TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX workflow_events_run_seq ON workflow_events (run_id, seq);
