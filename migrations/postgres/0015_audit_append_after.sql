-- One statement for the common audit append (issue #4 benchmark). The store's audit writer
-- remembers the head it last committed to each tenant's chain; while that is still the head,
-- it appends with this function in one round trip instead of a five-statement transaction
-- (BEGIN with the wall setting, head upsert, insert, head update, COMMIT).
--
-- The head moves only from exactly (head_seq, head_hash); when it is another (a second
-- replica appended, or the head was edited) nothing is written and the answer is FALSE, and
-- the writer falls back to reading the head under its row lock. A concurrent append blocks on
-- that row lock and then sees the moved head (READ COMMITTED re-checks the WHERE on the new
-- row version), so two writers can never both chain after one head.
--
-- The wall (0006) holds: the function is SECURITY INVOKER, names its tenant for its own
-- transaction exactly as the store does for every other (set_config(…, true) ends with the
-- statement's transaction), and the row policies check every row it touches against that.
CREATE FUNCTION audit_append_after(
    head_tenant  UUID,
    head_seq     BIGINT,
    head_hash    BYTEA,
    ids          UUID[],
    seqs         BIGINT[],
    ats          TIMESTAMPTZ[],
    actors       TEXT[],
    actions      TEXT[],
    targets      TEXT[],
    outcomes     TEXT[],
    rules        TEXT[],
    request_ids  TEXT[],
    client_addrs TEXT[],
    details      JSONB[],
    prev_hashes  BYTEA[],
    hashes       BYTEA[]
) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    last INTEGER := cardinality(seqs);
BEGIN
    IF last = 0 THEN
        RETURN TRUE;
    END IF;
    PERFORM set_config('app.tenant_id', head_tenant::TEXT, true);
    UPDATE audit_heads SET seq = seqs[last], hash = hashes[last]
     WHERE tenant_id = head_tenant AND seq = head_seq AND hash = head_hash;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    INSERT INTO audit_events (id, tenant_id, seq, at, actor, action, target, outcome, rule,
                              request_id, client_addr, detail, prev_hash, hash)
    SELECT r.id, head_tenant, r.seq, r.at, r.actor, r.action, r.target, r.outcome, r.rule,
           r.request_id, r.client_addr, r.detail, r.prev_hash, r.hash
      FROM unnest(ids, seqs, ats, actors, actions, targets, outcomes, rules, request_ids,
                  client_addrs, details, prev_hashes, hashes)
        AS r (id, seq, at, actor, action, target, outcome, rule, request_id, client_addr,
              detail, prev_hash, hash);
    RETURN TRUE;
END
$$;
