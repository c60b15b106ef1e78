-- Per-tenant API rate limits (issue #3 point 9). NULL: the platform default from settings
-- (`http.tenant_rate_limit_per_second`, `http.principal_rate_limit_per_second`); 0: no limit.
ALTER TABLE tenants ADD COLUMN rate_limit_tenant INTEGER;
ALTER TABLE tenants ADD COLUMN rate_limit_principal INTEGER;
