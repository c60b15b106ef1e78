-- Each replica caches a tenant's upstreams and tool policies for the gateway's call path and
-- checks this number, read with the tenant on every request: any write to either table bumps
-- it inside the writing transaction, whichever code path wrote.
ALTER TABLE tenants ADD COLUMN config_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER upstreams_config_insert AFTER INSERT ON upstreams BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER upstreams_config_update AFTER UPDATE ON upstreams BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER upstreams_config_delete AFTER DELETE ON upstreams BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER tool_policies_config_insert AFTER INSERT ON tool_policies BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER tool_policies_config_update AFTER UPDATE ON tool_policies BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER tool_policies_config_delete AFTER DELETE ON tool_policies BEGIN
    UPDATE tenants SET config_version = config_version + 1 WHERE id = OLD.tenant_id;
END;
