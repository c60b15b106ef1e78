//! Invitations: inviting, listing and withdrawing (administrators), and the invitee's side.

#![allow(clippy::result_large_err)]

use super::{ApiClient, Method};
use crate::api::{
    AcceptInvitation, CreatedInvitation, InvitationInfo, InvitationList, InvitationToken,
    NewInvitation, Problem,
};

impl ApiClient {
    /// Invites an address; the answer's link is shown only once.
    pub async fn invite(
        &self,
        tenant: uuid::Uuid,
        body: &NewInvitation,
    ) -> Result<CreatedInvitation, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/invitations");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn list_invitations(&self, tenant: uuid::Uuid) -> Result<InvitationList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/invitations");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn withdraw_invitation(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
    ) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/invitations/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    /// Whom an invitation link is for (no sign-in needed).
    pub async fn inspect_invitation(&self, token: &str) -> Result<InvitationInfo, Problem> {
        let body = InvitationToken {
            token: token.to_string(),
        };
        self.send(
            Method::Post,
            "/api/v1/auth/invitations/inspect",
            Some(&body),
        )
        .await
    }

    /// Sets the invitee's password and spends the link.
    pub async fn accept_invitation(&self, body: &AcceptInvitation) -> Result<(), Problem> {
        self.send(Method::Post, "/api/v1/auth/invitations/accept", Some(body))
            .await
    }
}
