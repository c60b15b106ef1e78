-- Audit search at scale (issue #3: search over 1,000,000 records). Equality filters get an
-- index each, ordered by seq as results are; free text gets a trigram index when pg_trgm can
-- be installed (it is in PostgreSQL's contrib; a role without the right to create it still
-- migrates, and free-text search then scans).

CREATE INDEX audit_events_actor_idx ON audit_events (tenant_id, actor, seq);
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_outcome_idx ON audit_events (tenant_id, outcome, seq);

DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX audit_events_text_idx ON audit_events USING gin
        (lower(actor || ' ' || action || ' ' || target || ' ' || CAST(detail AS TEXT)) gin_trgm_ops);
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available: audit free-text search will scan';
END
$$;
