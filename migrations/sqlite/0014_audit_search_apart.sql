-- The free-text index of the audit trail moves to a database file of its own, beside this
-- one, with its own write lock (store/audit_index.rs): indexing there no longer holds the
-- lock every audit append needs. That file is built from the records on first use; nothing
-- here is kept.

DROP TRIGGER IF EXISTS audit_search_update;
DROP TRIGGER IF EXISTS audit_search_delete;
DROP TABLE IF EXISTS audit_search_progress;
DROP TABLE IF EXISTS audit_search;
