//! The end-user chat: a user's conversations, their messages and tool-call approvals.

#![allow(clippy::result_large_err)]

use uuid::Uuid;

use super::{ApiClient, Method};
use crate::api::{
    ChatApproval, ChatMessage, ChatMessageList, Conversation, ConversationInput, ConversationList,
    NewChatMessage, Problem,
};

impl ApiClient {
    pub async fn list_conversations(&self, tenant: Uuid) -> Result<ConversationList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/conversations");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_conversation(
        &self,
        tenant: Uuid,
        body: &ConversationInput,
    ) -> Result<Conversation, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/conversations");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn delete_conversation(&self, tenant: Uuid, id: Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/conversations/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    /// The conversation's messages in order (the first 500).
    /// The conversation's latest 200 messages, in order.
    pub async fn chat_messages(&self, tenant: Uuid, id: Uuid) -> Result<ChatMessageList, Problem> {
        let path =
            format!("/api/v1/tenants/{tenant}/conversations/{id}/messages?latest=true&limit=200");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// The 200 messages before `seq`, in order.
    pub async fn chat_messages_before(
        &self,
        tenant: Uuid,
        id: Uuid,
        seq: i64,
    ) -> Result<ChatMessageList, Problem> {
        let path =
            format!("/api/v1/tenants/{tenant}/conversations/{id}/messages?before={seq}&limit=200");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// Stores the message and starts the agent's turn; the answer comes on the
    /// conversation's events.
    pub async fn send_chat_message(
        &self,
        tenant: Uuid,
        id: Uuid,
        body: &NewChatMessage,
    ) -> Result<ChatMessage, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/conversations/{id}/messages");
        self.send(Method::Post, &path, Some(body)).await
    }

    /// Asks the answer being written to stop; its end comes on the conversation's events.
    pub async fn stop_chat_turn(&self, tenant: Uuid, id: Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/conversations/{id}/stop");
        self.send::<(), _>(Method::Post, &path, None).await
    }

    /// Approves or declines a tool call waiting for the user; returns the decided card.
    pub async fn decide_chat_call(
        &self,
        tenant: Uuid,
        id: Uuid,
        body: &ChatApproval,
    ) -> Result<ChatMessage, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/conversations/{id}/approvals");
        self.send(Method::Post, &path, Some(body)).await
    }
}
