//! MCP sessions (the session-era revisions, 2025-03-26 to 2025-11-25, Streamable HTTP
//! §Session Management) that outlive the replica that opened them. Two records per session,
//! both in `kv` (Redis in production) with a sliding idle TTL:
//! - the owner: tenant, user and API key that opened it. A request naming the session must
//!   come from the same owner; an unknown, expired, ended or foreign session is a 404, which
//!   tells the client to initialize again;
//! - the client's `initialize` parameters, which rmcp replays to rebuild the session on a
//!   replica that has not seen it (so no sticky load balancing is needed).

use std::time::Duration;

use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::{Credential, Principal};
use crate::kv::{Kv, KvError};

/// Who opened a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    /// The API key it was opened with, if any: another key of the same user is another owner.
    pub api_key: Option<Uuid>,
}

impl Owner {
    pub fn of(principal: &Principal) -> Self {
        Self {
            tenant_id: principal.tenant_id,
            user_id: principal.user_id,
            api_key: match principal.credential {
                Credential::ApiKey { id } => Some(id),
                _ => None,
            },
        }
    }
}

fn owner_key(id: &str) -> String {
    format!("mcp:session:{id}:owner")
}

fn state_key(id: &str) -> String {
    format!("mcp:session:{id}:state")
}

/// The session records, sharing one idle TTL.
#[derive(Clone)]
pub struct Sessions {
    kv: Kv,
    idle: Duration,
}

impl Sessions {
    pub fn new(kv: Kv, idle: Duration) -> Self {
        Self { kv, idle }
    }

    /// Records `owner` as the owner of the new session `id`.
    pub async fn bind(&self, id: &str, owner: &Owner) -> Result<(), KvError> {
        let bytes = serde_json::to_vec(owner).unwrap_or_default();
        self.kv.set(&owner_key(id), &bytes, Some(self.idle)).await
    }

    /// Whether `owner` may use session `id`; a use keeps the session alive for another
    /// idle period.
    pub async fn admit(&self, id: &str, owner: &Owner) -> Result<bool, KvError> {
        let Some(bytes) = self.kv.get(&owner_key(id)).await? else {
            return Ok(false);
        };
        let stored: Option<Owner> = serde_json::from_slice(&bytes).ok();
        if stored.as_ref() != Some(owner) {
            return Ok(false);
        }
        self.kv.set(&owner_key(id), &bytes, Some(self.idle)).await?;
        if let Some(state) = self.kv.get(&state_key(id)).await? {
            self.kv.set(&state_key(id), &state, Some(self.idle)).await?;
        }
        Ok(true)
    }

    /// Ends session `id` on every replica.
    pub async fn end(&self, id: &str) -> Result<(), KvError> {
        self.kv.delete(&owner_key(id)).await?;
        self.kv.delete(&state_key(id)).await?;
        Ok(())
    }
}

/// rmcp's view of the same records: the `initialize` parameters to replay elsewhere.
#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(bytes) = self.kv.get(&state_key(session_id)).await? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_slice(&bytes)?))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let bytes = serde_json::to_vec(state)?;
        self.kv
            .set(&state_key(session_id), &bytes, Some(self.idle))
            .await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.kv.delete(&state_key(session_id)).await?;
        Ok(())
    }
}
