-- Identity (issue #3): sign-in state, token-signing keys, refresh-token families, MFA.

-- Consecutive failed sign-ins and the lock they caused (progressive, see identity::login).
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TIMESTAMPTZ;
-- "Sign out everywhere": console sessions made before this instant are void.
ALTER TABLE users ADD COLUMN sessions_revoked_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN password_changed_at TIMESTAMPTZ;
-- TOTP (RFC 6238): the secret sealed by the vault; the last accepted time step, so a code
-- is accepted once (replay protection).
ALTER TABLE users ADD COLUMN totp_secret_enc BYTEA;
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- One-time MFA recovery codes, stored as SHA-256 of a 50-bit random code.
CREATE TABLE recovery_codes (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   BYTEA NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

-- Platform-wide token-signing keys (ES256). The private key is sealed by the vault with the
-- kid as context. The newest key without retired_at signs; every key until expires_at
-- verifies and is published in the JWKS.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    private_enc  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    retired_at   TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ
);

-- Rotating refresh tokens (OAuth 2.1 §4.3.1 / RFC 9700 §4.14.2): each use marks the token
-- used and issues its successor in the same family; presenting a used token revokes the
-- family.
CREATE TABLE refresh_tokens (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   UUID NOT NULL,
    token_hash  BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    family_expires_at TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    CONSTRAINT refresh_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (tenant_id, user_id);
