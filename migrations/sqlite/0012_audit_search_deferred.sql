-- The free-text index is filled after the fact, in chunks, instead of by a trigger in every
-- append: indexing one record per transaction cost a flush and a merge of the FTS5 index
-- each, on every audited request's path (store/audit_index.rs). Search catches the index up
-- before it reads it, so it still finds every committed record.

DROP TRIGGER audit_search_insert;

-- Every record up to this rowid is in audit_search.
CREATE TABLE audit_search_progress (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_rowid INTEGER NOT NULL
);
INSERT INTO audit_search_progress (id, indexed_rowid)
SELECT 1, COALESCE(MAX(rowid), 0) FROM audit_events;

-- A record not indexed yet is indexed as it reads when its turn comes: re-indexing it here
-- too would list it twice.
DROP TRIGGER audit_search_update;
CREATE TRIGGER audit_search_update AFTER UPDATE ON audit_events
WHEN old.rowid <= (SELECT indexed_rowid FROM audit_search_progress WHERE id = 1)
BEGIN
    DELETE FROM audit_search WHERE tenant_id = old.tenant_id AND seq = old.seq;
    INSERT INTO audit_search (body, tenant_id, seq) VALUES (
        lower(new.actor || ' ' || new.action || ' ' || new.target || ' ' || CAST(new.detail AS TEXT)),
        new.tenant_id,
        new.seq
    );
END;
