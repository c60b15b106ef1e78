//! Access tokens whose signature already verified, by their exact text, until they expire:
//! an MCP client presents the same bearer token on every call, and checking an ES256
//! signature again each time costs more than the rest of authentication. Only the
//! signature's work is saved: audience, expiry and revocation are checked on every use.

use std::collections::HashMap;
use std::sync::Mutex;

use super::AccessClaims;

/// Tokens remembered at most; when full, the memory starts again (cheaper than an LRU, and
/// a forgotten token only costs one more verification).
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub(super) struct Verified {
    tokens: Mutex<HashMap<String, AccessClaims>>,
}

impl Verified {
    /// The claims of `token` if it verified before and has not expired by `now`.
    pub(super) fn get(&self, token: &str, now: i64) -> Option<AccessClaims> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.get(token).filter(|c| c.exp > now).cloned()
    }

    pub(super) fn remember(&self, token: &str, claims: &AccessClaims) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= CAPACITY {
            tokens.clear();
        }
        tokens.insert(token.to_owned(), claims.clone());
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "switchyard".into(),
            sub: Uuid::nil(),
            aud: "switchyard-api".into(),
            exp,
            nbf: 0,
            iat: 0,
            jti: Uuid::nil(),
            tid: Uuid::nil(),
            sid: Uuid::nil(),
            email: "a@example.com".into(),
            roles: vec![],
            scope: String::new(),
            adm: false,
            client_id: None,
            mfa_enrol: false,
        }
    }

    #[test]
    fn a_token_is_remembered_until_it_expires_and_only_by_its_exact_text() {
        let verified = Verified::default();
        verified.remember("a.b.c", &claims(100));
        assert!(verified.get("a.b.c", 99).is_some());
        assert!(verified.get("a.b.c", 100).is_none(), "expired");
        assert!(verified.get("a.b.d", 99).is_none(), "another token");
        for n in 0..CAPACITY {
            verified.remember(&format!("t{n}"), &claims(100));
        }
        assert!(verified.get("a.b.c", 99).is_none(), "forgotten when full");
    }
}
