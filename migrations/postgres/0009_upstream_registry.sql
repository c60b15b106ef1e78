-- The gateway's upstream registry (issue #4 point 1): a description, the per-call timeout,
-- and the names of the sealed secrets (their values live only in credentials_enc).
ALTER TABLE upstreams ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE upstreams ADD COLUMN call_timeout_ms INTEGER NOT NULL DEFAULT 30000;
ALTER TABLE upstreams ADD COLUMN secret_names JSONB NOT NULL DEFAULT '[]';
CREATE INDEX upstreams_tenant_idx ON upstreams (tenant_id, name);
