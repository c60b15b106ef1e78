-- Tenant policy "MFA required for role X" (issue #3 point 2): holders of such a role who have
-- no second factor may only enrol one until they do.
ALTER TABLE roles ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
