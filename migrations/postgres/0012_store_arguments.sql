-- Whether the gateway keeps tool-call and prompt arguments in the audit trail (issue #4
-- point 5); off, only their digest. Part of the gateway configuration replicas cache, so the
-- store bumps config_version when it changes.
ALTER TABLE tenants ADD COLUMN store_arguments BOOLEAN NOT NULL DEFAULT FALSE;
