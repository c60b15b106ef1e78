-- Whether the gateway keeps tool-call and prompt arguments in the audit trail; off, only
-- their digest. The store bumps config_version when it changes.
ALTER TABLE tenants ADD COLUMN store_arguments BOOLEAN NOT NULL DEFAULT FALSE;
