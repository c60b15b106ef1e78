-- Row-level security: the second tenant wall (issue #3, point 8). Every repository call is
-- already scoped by a TenantScope in code; these policies make PostgreSQL itself refuse rows
-- of any tenant other than the one named by the transaction's `app.tenant_id` setting, which
-- the store sets with set_config(…, true) at the start of every transaction on these tables.
-- Calls that legitimately span tenants (finding an API key or refresh token by its secret,
-- listing audit chains for `verify`) set `app.platform` instead, and say so in the store.
--
-- With no setting the policies admit nothing: a query that forgot to name its tenant returns
-- no rows and cannot insert. FORCE makes the table owner subject too; superusers and BYPASSRLS
-- roles are never subject, so the store drops to the NOLOGIN role `switchyard_app` when it
-- connects as one (store::rls).
--
-- Referential actions (ON DELETE CASCADE from tenants) run as the table owner without FORCE,
-- so deleting a tenant still removes its rows.

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'roles', 'role_assignments', 'api_keys', 'upstreams',
                             'tool_policies', 'audit_events', 'audit_heads', 'recovery_codes',
                             'refresh_tokens']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_wall ON %I USING ('
            '    tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid'
            '    OR current_setting(''app.platform'', true) = ''on'')', t);
    END LOOP;
END
$$;
