-- Subgraph nodes (issue #5 point 1): a run started by another run's subgraph node names its
-- parent, and how deep it is nested, so a workflow that calls itself stops at a bound.
ALTER TABLE workflow_runs ADD COLUMN parent_run_id BLOB;
ALTER TABLE workflow_runs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0;
