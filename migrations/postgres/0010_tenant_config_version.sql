-- Each replica caches a tenant's upstreams and tool policies for the gateway's call path and
-- checks this number, read with the tenant on every request: any write to either table bumps
-- it inside the writing transaction, whichever code path wrote, so a cache can never outlive
-- the configuration it was loaded from.
ALTER TABLE tenants ADD COLUMN config_version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION bump_tenant_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- NEW is NULL in a DELETE trigger, OLD in an INSERT trigger.
    UPDATE tenants SET config_version = config_version + 1
     WHERE id = COALESCE(NEW.tenant_id, OLD.tenant_id);
    RETURN NULL;
END $$;

CREATE TRIGGER upstreams_config_version
    AFTER INSERT OR UPDATE OR DELETE ON upstreams
    FOR EACH ROW EXECUTE FUNCTION bump_tenant_config_version();

CREATE TRIGGER tool_policies_config_version
    AFTER INSERT OR UPDATE OR DELETE ON tool_policies
    FOR EACH ROW EXECUTE FUNCTION bump_tenant_config_version();
