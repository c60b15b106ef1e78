-- Audit free-text search behind the tenant wall (0006). Under row-level security PostgreSQL
-- may not evaluate a non-leakproof condition, such as LIKE, before the policy's own, so the
-- trigram index (0003) cannot serve a LIKE on audit_events and free text scans the tenant's
-- whole trail (826 ms over 1,000,000 records instead of 5 ms).
--
-- This function finds the candidates instead, as the table's owner, through the index. It
-- keeps the wall itself: it reads the tenant from the same transaction setting the policies
-- use, so with no tenant named it returns nothing, and it returns only sequence numbers,
-- which the caller's query (still under the policy) then joins, filters and checks exactly.
-- When the owner is itself subject to the policy (FORCE, not a superuser), the function is
-- merely as slow as the plain query, never wider.
CREATE FUNCTION audit_text_candidates(pattern TEXT) RETURNS SETOF BIGINT
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path FROM CURRENT
AS $$
    SELECT seq FROM audit_events
    WHERE tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
      AND lower(actor || ' ' || action || ' ' || target || ' ' || CAST(detail AS TEXT))
          LIKE pattern ESCAPE '\'
$$;
