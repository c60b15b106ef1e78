//! MCP sessions (the session-era revisions, 2025-03-26 to 2025-11-25, Streamable HTTP
//! §Session Management) that outlive the replica that opened them. Two records per session,
//! both in `kv` (Redis in production) with a sliding idle TTL:
//! - the owner: tenant, user and API key that opened it. A request naming the session must
//!   come from the same owner; an unknown, expired, ended or foreign session is a 404, which
//!   tells the client to initialize again;
//! - the client's `initialize` parameters, which rmcp replays to rebuild the session on a
//!   replica that has not seen it (so no sticky load balancing is needed).

use std::time::Duration;

#[allow(deprecated)]
use rmcp::model::LoggingLevel;
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
    /// The virtual server whose endpoint opened it: a session belongs to one endpoint.
    #[serde(default)]
    pub server: Option<String>,
}

impl Owner {
    pub fn of(principal: &Principal, server: Option<&str>) -> Self {
        Self {
            server: server.map(str::to_owned),
            tenant_id: principal.tenant_id,
            user_id: principal.user_id,
            api_key: match principal.credential {
                Credential::ApiKey { id } => Some(id),
                _ => None,
            },
        }
    }
}

/// The owner record: who, and when its TTL was last renewed (Unix seconds).
#[derive(Serialize, Deserialize)]
struct Record {
    owner: Owner,
    touched: i64,
}

fn owner_key(id: &str) -> String {
    format!("mcp:session:{id}:owner")
}

fn state_key(id: &str) -> String {
    format!("mcp:session:{id}:state")
}

fn level_key(id: &str) -> String {
    format!("mcp:session:{id}:level")
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
        self.touch(id, owner, None).await
    }

    /// (Re)writes the owner record, and the state's TTL with it, stamped now.
    async fn touch(&self, id: &str, owner: &Owner, state: Option<Vec<u8>>) -> Result<(), KvError> {
        let record = Record {
            owner: owner.clone(),
            touched: chrono::Utc::now().timestamp(),
        };
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        self.kv.set(&owner_key(id), &bytes, Some(self.idle)).await?;
        if let Some(state) = state {
            self.kv.set(&state_key(id), &state, Some(self.idle)).await?;
        }
        Ok(())
    }

    /// Whether `owner` may use session `id`. Use keeps the session alive: its records'
    /// TTLs are renewed once a tenth of the idle period has passed since the last renewal,
    /// so most requests cost one read.
    pub async fn admit(&self, id: &str, owner: &Owner) -> Result<bool, KvError> {
        let Some(bytes) = self.kv.get(&owner_key(id)).await? else {
            return Ok(false);
        };
        let Ok(record) = serde_json::from_slice::<Record>(&bytes) else {
            return Ok(false);
        };
        if record.owner != *owner {
            return Ok(false);
        }
        let age = chrono::Utc::now()
            .timestamp()
            .saturating_sub(record.touched);
        if age.unsigned_abs() >= (self.idle.as_secs() / 10).max(1) {
            let state = self.kv.get(&state_key(id)).await?;
            self.touch(id, owner, state).await?;
            if let Some(level) = self.kv.get(&level_key(id)).await? {
                self.kv.set(&level_key(id), &level, Some(self.idle)).await?;
            }
        }
        Ok(true)
    }

    /// Records the log level the client of session `id` set (`logging/setLevel`), for every
    /// replica that serves it.
    #[allow(deprecated)] // logging: deprecated by SEP-2577, still in the session-era revisions
    pub async fn set_level(&self, id: &str, level: LoggingLevel) -> Result<(), KvError> {
        let bytes = serde_json::to_vec(&level).unwrap_or_default();
        self.kv.set(&level_key(id), &bytes, Some(self.idle)).await
    }

    /// The log level session `id` set, if it set one.
    #[allow(deprecated)]
    pub async fn level(&self, id: &str) -> Result<Option<LoggingLevel>, KvError> {
        let bytes = self.kv.get(&level_key(id)).await?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Ends session `id` on every replica.
    pub async fn end(&self, id: &str) -> Result<(), KvError> {
        self.kv.delete(&owner_key(id)).await?;
        self.kv.delete(&state_key(id)).await?;
        self.kv.delete(&level_key(id)).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(api_key: Option<Uuid>) -> Owner {
        Owner {
            tenant_id: Uuid::nil(),
            user_id: Uuid::max(),
            api_key,
            server: None,
        }
    }

    #[tokio::test]
    async fn a_session_admits_only_its_owner_until_it_ends() {
        let sessions = Sessions::new(Kv::memory("t:"), Duration::from_secs(60));
        let alice = owner(None);
        assert!(!sessions.admit("s1", &alice).await.unwrap(), "unknown");
        sessions.bind("s1", &alice).await.unwrap();
        assert!(sessions.admit("s1", &alice).await.unwrap());
        // The same user with an API key is another owner.
        assert!(
            !sessions
                .admit("s1", &owner(Some(Uuid::nil())))
                .await
                .unwrap()
        );
        // So is the same user on another endpoint of the tenant.
        let elsewhere = Owner {
            server: Some("research".into()),
            ..alice.clone()
        };
        assert!(!sessions.admit("s1", &elsewhere).await.unwrap());
        let state = SessionState::new(
            serde_json::from_value(serde_json::json!({
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "t", "version": "1" } }))
            .unwrap(),
        );
        sessions.store("s1", &state).await.unwrap();
        assert!(sessions.load("s1").await.unwrap().is_some());
        #[allow(deprecated)]
        {
            assert_eq!(sessions.level("s1").await.unwrap(), None);
            sessions
                .set_level("s1", LoggingLevel::Warning)
                .await
                .unwrap();
            assert_eq!(
                sessions.level("s1").await.unwrap(),
                Some(LoggingLevel::Warning)
            );
        }
        sessions.end("s1").await.unwrap();
        assert!(!sessions.admit("s1", &alice).await.unwrap(), "ended");
        assert!(sessions.load("s1").await.unwrap().is_none());
        assert!(sessions.level("s1").await.unwrap().is_none());
    }
}
