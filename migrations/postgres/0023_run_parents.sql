-- The engine's sweeper finds waiting runs whose subgraph child has ended (a parent whose
-- wake-up was lost) by their children: an index on the parent, for the runs that have one.
CREATE INDEX workflow_runs_parent_idx ON workflow_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
