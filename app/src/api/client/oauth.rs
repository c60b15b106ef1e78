//! The consent page's calls, and the apps a user has allowed.

#![allow(clippy::result_large_err)]

use super::{ApiClient, Method};
use crate::api::{OAuthAnswer, OAuthConsentList, OAuthRedirect, OAuthRequest, Problem};

impl ApiClient {
    /// The pending authorization request the consent page is about.
    pub async fn oauth_request(&self, id: &str) -> Result<OAuthRequest, Problem> {
        let path = format!("/api/v1/oauth/requests/{id}");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// Allows or refuses it; the answer is where the browser goes next.
    pub async fn answer_oauth_request(
        &self,
        id: &str,
        allow: bool,
    ) -> Result<OAuthRedirect, Problem> {
        let path = format!("/api/v1/oauth/requests/{id}");
        self.send(Method::Post, &path, Some(&OAuthAnswer { allow }))
            .await
    }

    pub async fn oauth_consents(&self) -> Result<OAuthConsentList, Problem> {
        self.send::<(), _>(Method::Get, "/api/v1/auth/oauth-consents", None)
            .await
    }

    /// Withdraws a consent; the app's sign-ins end with it.
    pub async fn withdraw_oauth_consent(&self, id: uuid::Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/auth/oauth-consents/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }
}
