-- Audit search at scale (issue #3: search over 1,000,000 records). Equality filters get an
-- index each, ordered by seq as results are; free text gets an FTS5 trigram index (substring
-- matching, case-insensitive), kept by triggers and keyed by (tenant_id, seq).

CREATE INDEX audit_events_actor_idx ON audit_events (tenant_id, actor, seq);
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_events_outcome_idx ON audit_events (tenant_id, outcome, seq);

CREATE VIRTUAL TABLE audit_search USING fts5(
    body,
    tenant_id UNINDEXED,
    seq UNINDEXED,
    tokenize = 'trigram'
);

CREATE TRIGGER audit_search_insert AFTER INSERT ON audit_events BEGIN
    INSERT INTO audit_search (body, tenant_id, seq) VALUES (
        lower(new.actor || ' ' || new.action || ' ' || new.target || ' ' || CAST(new.detail AS TEXT)),
        new.tenant_id,
        new.seq
    );
END;

CREATE TRIGGER audit_search_delete AFTER DELETE ON audit_events BEGIN
    DELETE FROM audit_search WHERE tenant_id = old.tenant_id AND seq = old.seq;
END;

INSERT INTO audit_search (body, tenant_id, seq)
SELECT lower(actor || ' ' || action || ' ' || target || ' ' || CAST(detail AS TEXT)), tenant_id, seq
FROM audit_events;

-- Records are append-only; an update can only be tampering, which verification reports. The
-- index follows anyway, so search shows what the table holds.
CREATE TRIGGER audit_search_update AFTER UPDATE ON audit_events BEGIN
    DELETE FROM audit_search WHERE tenant_id = old.tenant_id AND seq = old.seq;
    INSERT INTO audit_search (body, tenant_id, seq) VALUES (
        lower(new.actor || ' ' || new.action || ' ' || new.target || ' ' || CAST(new.detail AS TEXT)),
        new.tenant_id,
        new.seq
    );
END;
