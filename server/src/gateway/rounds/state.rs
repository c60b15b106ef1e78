//! The `requestState` the gateway gives a 2026-07-28 caller: what its repeat must bring
//! back, sealed with the vault key (AES-256-GCM) and bound, as associated data, to the
//! caller, its endpoint, the item and its arguments.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{RoundsError, STATE_PREFIX, STATE_TTL_SECS};
use crate::gateway::calls::Caller;
use crate::gateway::views::Item;
use crate::identity::Credential;
use crate::vault::Vault;

/// What the sealed state holds.
#[derive(Serialize, Deserialize)]
pub(super) struct Sealed {
    /// The upstream whose state it is.
    pub u: Uuid,
    /// The upstream's own `requestState`, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    /// A parked call (`gateway::parked`) and the round whose answer it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<(Uuid, u32)>,
    /// Unix seconds after which it is refused.
    pub exp: i64,
}

impl Sealed {
    pub fn new(upstream: Uuid, state: Option<String>, parked: Option<(Uuid, u32)>) -> Self {
        Self {
            u: upstream,
            s: state,
            p: parked,
            exp: chrono::Utc::now().timestamp() + STATE_TTL_SECS,
        }
    }
}

/// The key a parked call's question of round `round` goes under in `inputRequests`.
pub(super) fn parked_key(round: u32) -> String {
    format!("switchyard.ask.{round}")
}

/// The associated data a state is sealed with: who asked, at which endpoint, for what, with
/// which arguments (their digest).
pub(super) fn binding(caller: &Caller<'_>, kind: Item, name: &str, digest: &str) -> String {
    let principal = caller.principal;
    let key = match principal.credential {
        Credential::ApiKey { id } => id.to_string(),
        _ => "-".into(),
    };
    format!(
        "mcp.request_state|{}|{}|{key}|{}|{}|{name}|{digest}",
        caller.scope.tenant_id(),
        principal.user_id,
        caller.server.unwrap_or("-"),
        kind.noun(),
    )
}

/// Seals what the caller's repeat of this request must bring back.
pub(super) fn seal(vault: &Vault, context: &str, sealed: &Sealed) -> String {
    let plain = serde_json::to_vec(sealed).unwrap_or_default();
    format!(
        "{STATE_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(vault.seal(context, &plain))
    )
}

/// What a `requestState` the gateway sealed for this caller, request and upstream holds,
/// while it is fresh.
pub(super) fn open(
    vault: &Vault,
    context: &str,
    upstream: Uuid,
    echoed: &str,
) -> Result<Sealed, RoundsError> {
    let bytes = echoed
        .strip_prefix(STATE_PREFIX)
        .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
        .ok_or(RoundsError::BadState)?;
    let plain = vault
        .open_sealed(context, &bytes)
        .map_err(|_| RoundsError::BadState)?;
    let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| RoundsError::BadState)?;
    if sealed.u != upstream || sealed.exp < chrono::Utc::now().timestamp() {
        return Err(RoundsError::BadState);
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn a_state_opens_only_for_its_binding_upstream_and_time() {
        let vault = vault();
        let upstream = Uuid::new_v4();
        let state = Sealed::new(upstream, Some("upstream-state".into()), None);
        let sealed = seal(&vault, "ctx-a", &state);
        let opened = open(&vault, "ctx-a", upstream, &sealed).unwrap();
        assert_eq!(opened.s.as_deref(), Some("upstream-state"));
        // Another caller or request, another upstream, a changed byte, a foreign string.
        assert!(open(&vault, "ctx-b", upstream, &sealed).is_err());
        assert!(open(&vault, "ctx-a", Uuid::new_v4(), &sealed).is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(open(&vault, "ctx-a", upstream, &tampered).is_err());
        assert!(open(&vault, "ctx-a", upstream, "upstream-state").is_err());
        assert!(open(&vault, "ctx-a", upstream, "sy1.!!!").is_err());
        // Expired.
        let mut stale = Sealed::new(upstream, None, None);
        stale.exp = chrono::Utc::now().timestamp() - 1;
        let bytes = vault.seal("ctx-a", &serde_json::to_vec(&stale).unwrap());
        let stale = format!("{STATE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        assert!(open(&vault, "ctx-a", upstream, &stale).is_err());
    }
}
