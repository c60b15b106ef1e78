//! Conversations and their messages (issue #5 point 5; migration sqlite/0019, postgres/0020).
//! Every read and write names the owner: a user sees and touches only their conversations.
//! A turn holds its conversation by a compare-and-set on its status, with a lease that the
//! turn renews, so two turns never run at once and a turn whose replica died frees it.

use app::api::{ChatMessage, Conversation, ConversationStatus, ToolCard};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled, walled_tx};
use crate::tenancy::TenantScope;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub title: String,
    pub provider: Option<String>,
    pub instructions: Option<String>,
    pub workflow_id: Option<Uuid>,
    pub status: String,
    pub turn_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConversationRow {
    pub fn status(&self) -> ConversationStatus {
        ConversationStatus::parse(&self.status).unwrap_or(ConversationStatus::Idle)
    }

    pub fn to_api(&self) -> Conversation {
        Conversation {
            id: self.id,
            title: self.title.clone(),
            provider: self.provider.clone(),
            instructions: self.instructions.clone(),
            workflow_id: self.workflow_id,
            status: self.status(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A conversation's settings as written.
pub struct ConversationRecord<'a> {
    pub title: &'a str,
    pub provider: Option<&'a str>,
    pub instructions: Option<&'a str>,
    pub workflow_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    seq: i64,
    role: String,
    content: String,
    detail: Option<Json<serde_json::Value>>,
    card: Option<Json<ToolCard>>,
    created_at: DateTime<Utc>,
}

/// A stored message, with its detail (see the migration): the tool calls an assistant
/// message asked for, as the model's wire has them, give the conversation back to it.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    pub message: ChatMessage,
    pub detail: Option<serde_json::Value>,
}

impl From<MessageRow> for StoredMessage {
    fn from(row: MessageRow) -> Self {
        let detail = row.detail.map(|d| d.0);
        let text = |key: &str| {
            detail
                .as_ref()
                .and_then(|d| d.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Self {
            message: ChatMessage {
                id: row.id,
                seq: row.seq,
                role: row.role,
                content: row.content,
                tool: text("tool"),
                error: text("error"),
                card: row.card.map(|c| c.0),
                created_at: row.created_at,
            },
            detail,
        }
    }
}

/// A message to add.
pub struct NewMessage<'a> {
    pub role: &'a str,
    pub content: &'a str,
    pub detail: Option<&'a serde_json::Value>,
    pub card: Option<&'a ToolCard>,
}

const CONVERSATION: &str = "SELECT id, user_id, title, provider, instructions, workflow_id, status, \
     turn_until, created_at, updated_at FROM conversations";

const MESSAGE: &str = "SELECT id, seq, role, content, detail, card, created_at FROM chat_messages";

/// Its seq is the conversation's next: only the turn holding the conversation adds
/// messages, and the unique (conversation, seq) key refuses a second writer outright.
const ADD_MESSAGE: &str = "INSERT INTO chat_messages \
     (id, tenant_id, conversation_id, seq, role, content, detail, card, created_at) \
     VALUES ($1, $2, $3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages WHERE conversation_id = $3), \
     $4, $5, $6, $7, $8)";

/// Takes the conversation for a turn: from one of the listed statuses, or from a turn
/// whose lease ran out.
const BEGIN_TURN: &str = "UPDATE conversations SET status = 'answering', turn_until = $4, updated_at = $5 \
     WHERE tenant_id = $1 AND id = $2 AND user_id = $3 \
     AND (status = $6 OR (status = 'answering' AND turn_until < $5))";

impl Store {
    #[instrument(skip_all)]
    pub async fn create_conversation(
        &self,
        scope: &TenantScope,
        user: Uuid,
        new: &ConversationRecord<'_>,
    ) -> Result<ConversationRow, StoreError> {
        let (id, now) = (Uuid::now_v7(), Utc::now());
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("INSERT INTO conversations (id, tenant_id, user_id, title, provider, \
                         instructions, workflow_id, status, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'idle', $8, $8)")
                .bind(id).bind(scope.tenant_id()).bind(user).bind(new.title).bind(new.provider)
                .bind(new.instructions).bind(new.workflow_id).bind(now)
                .execute(pool).await?;
        });
        self.conversation(scope, user, id).await
    }

    /// The user's conversations, the most recently active first.
    #[instrument(skip_all)]
    pub async fn list_conversations(
        &self,
        scope: &TenantScope,
        user: Uuid,
        limit: i64,
    ) -> Result<Vec<ConversationRow>, StoreError> {
        let sql = format!(
            "{CONVERSATION} WHERE tenant_id = $1 AND user_id = $2 ORDER BY updated_at DESC, id DESC LIMIT $3"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(user).bind(limit)
                .fetch_all(pool).await?
        }))
    }

    /// One of the user's conversations; another user's is not found.
    #[instrument(skip_all)]
    pub async fn conversation(
        &self,
        scope: &TenantScope,
        user: Uuid,
        id: Uuid,
    ) -> Result<ConversationRow, StoreError> {
        let sql = format!("{CONVERSATION} WHERE tenant_id = $1 AND id = $2 AND user_id = $3");
        let row: Option<ConversationRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(id).bind(user)
                .fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("conversation"))
    }

    /// A conversation's status, whoever owns it (for a stream whose owner was checked).
    #[instrument(skip_all)]
    pub async fn conversation_status(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<ConversationStatus, StoreError> {
        let row: Option<(String,)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT status FROM conversations WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        let (status,) = row.ok_or(StoreError::NotFound("conversation"))?;
        Ok(ConversationStatus::parse(&status).unwrap_or(ConversationStatus::Idle))
    }

    #[instrument(skip_all)]
    pub async fn update_conversation(
        &self,
        scope: &TenantScope,
        user: Uuid,
        id: Uuid,
        new: &ConversationRecord<'_>,
    ) -> Result<ConversationRow, StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE conversations SET title = $4, provider = $5, instructions = $6, \
                         workflow_id = $7, updated_at = $8 WHERE tenant_id = $1 AND id = $2 AND user_id = $3")
                .bind(scope.tenant_id()).bind(id).bind(user).bind(new.title).bind(new.provider)
                .bind(new.instructions).bind(new.workflow_id).bind(Utc::now())
                .execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("conversation"));
        }
        self.conversation(scope, user, id).await
    }

    #[instrument(skip_all)]
    pub async fn delete_conversation(
        &self,
        scope: &TenantScope,
        user: Uuid,
        id: Uuid,
    ) -> Result<(), StoreError> {
        let done = walled_tx!(self, Wall::of(scope), tx => {
            sqlx::query("DELETE FROM chat_messages WHERE tenant_id = $1 AND conversation_id = \
                         (SELECT id FROM conversations WHERE tenant_id = $1 AND id = $2 AND user_id = $3)")
                .bind(scope.tenant_id()).bind(id).bind(user).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM conversations WHERE tenant_id = $1 AND id = $2 AND user_id = $3")
                .bind(scope.tenant_id()).bind(id).bind(user).execute(&mut *tx).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("conversation"));
        }
        Ok(())
    }

    /// Takes the conversation for a turn (from `from`, or from a turn whose lease ran out)
    /// and adds `first` to it, in one transaction. Busy: it is not in `from`, and nothing
    /// was written.
    #[instrument(skip_all)]
    pub async fn begin_turn(
        &self,
        scope: &TenantScope,
        user: Uuid,
        id: Uuid,
        from: ConversationStatus,
        lease: std::time::Duration,
        first: Option<&NewMessage<'_>>,
    ) -> Result<TurnStart, StoreError> {
        let now = Utc::now();
        let until = now + lease;
        let message_id = Uuid::now_v7();
        let taken = walled_tx!(self, Wall::of(scope), tx => {
            let taken = sqlx::query(BEGIN_TURN)
                .bind(scope.tenant_id()).bind(id).bind(user).bind(until).bind(now).bind(from.as_str())
                .execute(&mut *tx).await?.rows_affected() == 1;
            if taken && let Some(new) = first {
                sqlx::query(ADD_MESSAGE)
                    .bind(message_id).bind(scope.tenant_id()).bind(id).bind(new.role).bind(new.content)
                    .bind(new.detail.map(Json)).bind(new.card.map(Json)).bind(now)
                    .execute(&mut *tx).await?;
            }
            taken
        });
        Ok(match (taken, first) {
            (false, _) => TurnStart::Busy,
            (true, None) => TurnStart::Taken(None),
            (true, Some(_)) => TurnStart::Taken(Some(Box::new(
                self.chat_message(scope, id, message_id).await?.message,
            ))),
        })
    }

    /// Keeps the turn's hold on the conversation for `lease` more.
    #[instrument(skip_all)]
    pub async fn renew_turn(
        &self,
        scope: &TenantScope,
        id: Uuid,
        lease: std::time::Duration,
    ) -> Result<(), StoreError> {
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE conversations SET turn_until = $3 WHERE tenant_id = $1 AND id = $2 AND status = 'answering'")
                .bind(scope.tenant_id()).bind(id).bind(Utc::now() + lease)
                .execute(pool).await?;
        });
        Ok(())
    }

    /// Ends the turn: the conversation is `status` (idle, or waiting for approvals).
    #[instrument(skip_all)]
    pub async fn end_turn(
        &self,
        scope: &TenantScope,
        id: Uuid,
        status: ConversationStatus,
    ) -> Result<(), StoreError> {
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("UPDATE conversations SET status = $3, turn_until = NULL, updated_at = $4 \
                         WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).bind(status.as_str()).bind(Utc::now())
                .execute(pool).await?;
        });
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn add_chat_message(
        &self,
        scope: &TenantScope,
        conversation: Uuid,
        new: &NewMessage<'_>,
    ) -> Result<ChatMessage, StoreError> {
        let (id, now) = (Uuid::now_v7(), Utc::now());
        walled!(self, Wall::of(scope), pool => {
            sqlx::query(ADD_MESSAGE)
                .bind(id).bind(scope.tenant_id()).bind(conversation).bind(new.role).bind(new.content)
                .bind(new.detail.map(Json)).bind(new.card.map(Json)).bind(now)
                .execute(pool).await?;
        });
        Ok(self.chat_message(scope, conversation, id).await?.message)
    }

    /// Replaces a tool message's card if its status is still `expected`; `false` if not
    /// (decided meanwhile), so a card is decided once.
    #[instrument(skip_all)]
    pub async fn update_card(
        &self,
        scope: &TenantScope,
        message: Uuid,
        expected: &str,
        card: &ToolCard,
    ) -> Result<bool, StoreError> {
        // The card's status, read in SQL on both backends.
        let status = match self.db {
            Db::Sqlite(_) => "json_extract(card, '$.status')",
            Db::Postgres(_) => "card->>'status'",
        };
        let sql = format!(
            "UPDATE chat_messages SET card = $3 WHERE tenant_id = $1 AND id = $2 AND {status} = $4"
        );
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(message).bind(Json(card)).bind(expected)
                .execute(pool).await?.rows_affected()
        });
        Ok(done == 1)
    }

    #[instrument(skip_all)]
    pub async fn chat_message(
        &self,
        scope: &TenantScope,
        conversation: Uuid,
        id: Uuid,
    ) -> Result<StoredMessage, StoreError> {
        let sql = format!("{MESSAGE} WHERE tenant_id = $1 AND conversation_id = $2 AND id = $3");
        let row: Option<MessageRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(conversation).bind(id)
                .fetch_optional(pool).await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound("message"))
    }

    /// A conversation's messages after `after` (a seq), in order, at most `limit`.
    #[instrument(skip_all)]
    pub async fn chat_messages(
        &self,
        scope: &TenantScope,
        conversation: Uuid,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let sql = format!(
            "{MESSAGE} WHERE tenant_id = $1 AND conversation_id = $2 AND seq > $3 ORDER BY seq LIMIT $4"
        );
        let rows: Vec<MessageRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(conversation).bind(after).bind(limit)
                .fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The latest `limit` messages with a seq below `before`, in order.
    #[instrument(skip_all)]
    pub async fn chat_messages_before(
        &self,
        scope: &TenantScope,
        conversation: Uuid,
        before: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let sql = format!(
            "{MESSAGE} WHERE tenant_id = $1 AND conversation_id = $2 AND seq < $3 ORDER BY seq DESC LIMIT $4"
        );
        let mut rows: Vec<MessageRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.tenant_id()).bind(conversation).bind(before).bind(limit)
                .fetch_all(pool).await?
        });
        rows.reverse();
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A conversation's latest `limit` messages, in order.
    pub async fn latest_chat_messages(
        &self,
        scope: &TenantScope,
        conversation: Uuid,
        limit: i64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        (self.chat_messages_before(scope, conversation, i64::MAX, limit)).await
    }
}

/// What `begin_turn` did.
pub enum TurnStart {
    /// Another turn holds the conversation, or it is not in the status asked for.
    Busy,
    /// The turn holds it; the message it added, if it was given one.
    Taken(Option<Box<ChatMessage>>),
}
