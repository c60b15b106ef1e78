//! The typed client of `/api/v1` (the gateway's and invitations' calls in submodules). In the browser it speaks over `fetch`; during server-side
//! rendering it calls the same axum `Router` in process (DESIGN.md "One API"), so the console
//! never has a private path to the data.

// `Problem` is the API's error document, returned whole so the console can show every field
// error; requests are not a hot path, so its size on the error path does not matter.
#![allow(clippy::result_large_err)]

mod chat;
mod invitations;
mod llm;
mod oauth;
mod roles;
mod upstreams;
mod vectors;
mod virtual_servers;
mod workflows;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    ApiKeyList, AuditList, AuditQuery, AuditVerification, CreatedApiKey, EffectiveAccess,
    GatewaySettings, Me, MfaCode, MfaEnrolment, NewApiKey, NewTenant, NewToolPolicy, NewUser,
    PasswordReset, PolicyAnswer, PolicyQuestion, Problem, RecoveryCodes, RoleList, SignIn, Tenant,
    TenantList, TenantPatch, TenantQuery, ToolAccessList, ToolPolicy, ToolPolicyList, User,
    UserList, UserPatch, UserQuery, UserRoles, WhoQuery,
};

/// HTTP methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A handle on `/api/v1`. Cheap to clone; put one in the Leptos context.
#[derive(Clone, Default)]
pub struct ApiClient {
    #[cfg(feature = "ssr")]
    router: Option<axum::Router>,
    /// The visitor's cookies, taken when the page's render began: read from the reactive
    /// context at call time, they were gone for a resource's second call (its future is
    /// polled outside the owner after its first await), which then ran signed out.
    #[cfg(feature = "ssr")]
    cookie: Option<http::HeaderValue>,
}

impl ApiClient {
    /// A client that calls `router` in process (used while rendering on the server), as
    /// the visitor whose request `parts` are.
    #[cfg(feature = "ssr")]
    pub fn in_process(router: axum::Router, parts: Option<&http::request::Parts>) -> Self {
        Self {
            router: Some(router),
            cookie: parts.and_then(|p| p.headers.get(http::header::COOKIE).cloned()),
        }
    }

    /// The signed-in caller (401 problem when signed out).
    pub async fn me(&self) -> Result<Me, Problem> {
        self.send::<(), _>(Method::Get, "/api/v1/auth/me", None)
            .await
    }

    /// Console sign-in: the server sets the session and CSRF cookies.
    pub async fn sign_in(&self, body: &SignIn) -> Result<Me, Problem> {
        self.send(Method::Post, "/api/v1/auth/session", Some(body))
            .await
    }

    /// Ends the console session.
    pub async fn sign_out(&self) -> Result<(), Problem> {
        self.send::<(), _>(Method::Delete, "/api/v1/auth/session", None)
            .await
    }

    /// Starts TOTP enrolment for the caller.
    pub async fn begin_totp(&self) -> Result<MfaEnrolment, Problem> {
        self.send::<(), _>(Method::Post, "/api/v1/auth/mfa/totp", None)
            .await
    }

    /// Confirms TOTP enrolment; returns the recovery codes.
    pub async fn confirm_totp(&self, body: &MfaCode) -> Result<RecoveryCodes, Problem> {
        self.send(Method::Post, "/api/v1/auth/mfa/totp/confirm", Some(body))
            .await
    }

    pub async fn list_api_keys(&self) -> Result<ApiKeyList, Problem> {
        self.send::<(), _>(Method::Get, "/api/v1/auth/api-keys", None)
            .await
    }

    pub async fn create_api_key(&self, body: &NewApiKey) -> Result<CreatedApiKey, Problem> {
        self.send(Method::Post, "/api/v1/auth/api-keys", Some(body))
            .await
    }

    pub async fn revoke_api_key(&self, id: uuid::Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/auth/api-keys/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    pub async fn list_tenants(&self, query: &TenantQuery) -> Result<TenantList, Problem> {
        let path = format!("/api/v1/tenants{}", query_string(query)?);
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn get_tenant(&self, id: uuid::Uuid) -> Result<Tenant, Problem> {
        let path = format!("/api/v1/tenants/{id}");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_tenant(&self, body: &NewTenant) -> Result<Tenant, Problem> {
        self.send(Method::Post, "/api/v1/tenants", Some(body)).await
    }

    pub async fn update_tenant(
        &self,
        id: uuid::Uuid,
        body: &TenantPatch,
    ) -> Result<Tenant, Problem> {
        self.send(Method::Patch, &format!("/api/v1/tenants/{id}"), Some(body))
            .await
    }

    pub async fn list_users(
        &self,
        tenant: uuid::Uuid,
        query: &UserQuery,
    ) -> Result<UserList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/users{}", query_string(query)?);
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_user(&self, tenant: uuid::Uuid, body: &NewUser) -> Result<User, Problem> {
        self.send(
            Method::Post,
            &format!("/api/v1/tenants/{tenant}/users"),
            Some(body),
        )
        .await
    }

    pub async fn update_user(
        &self,
        tenant: uuid::Uuid,
        id: uuid::Uuid,
        body: &UserPatch,
    ) -> Result<User, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/users/{id}");
        self.send(Method::Patch, &path, Some(body)).await
    }

    pub async fn list_audit(
        &self,
        tenant: uuid::Uuid,
        query: &AuditQuery,
    ) -> Result<AuditList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/audit{}", query_string(query)?);
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn verify_audit(&self, tenant: uuid::Uuid) -> Result<AuditVerification, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/audit/verify");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn set_user_roles(
        &self,
        tenant: uuid::Uuid,
        user: uuid::Uuid,
        body: &UserRoles,
    ) -> Result<RoleList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/users/{user}/roles");
        self.send(Method::Put, &path, Some(body)).await
    }

    /// Sets a user's password (administrators).
    pub async fn reset_password(
        &self,
        tenant: uuid::Uuid,
        user: uuid::Uuid,
        password: &str,
    ) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/users/{user}/password");
        let body = PasswordReset {
            new_password: password.to_string(),
        };
        self.send(Method::Post, &path, Some(&body)).await
    }

    pub async fn unlock_user(&self, tenant: uuid::Uuid, user: uuid::Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/users/{user}/unlock");
        self.send::<(), _>(Method::Post, &path, None).await
    }

    pub async fn list_policies(&self, tenant: uuid::Uuid) -> Result<ToolPolicyList, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/policies");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn create_policy(
        &self,
        tenant: uuid::Uuid,
        body: &NewToolPolicy,
    ) -> Result<ToolPolicy, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/policies");
        self.send(Method::Post, &path, Some(body)).await
    }

    pub async fn gateway_settings(&self, tenant: uuid::Uuid) -> Result<GatewaySettings, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/gateway-settings");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    pub async fn set_gateway_settings(
        &self,
        tenant: uuid::Uuid,
        body: &GatewaySettings,
    ) -> Result<GatewaySettings, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/gateway-settings");
        self.send(Method::Put, &path, Some(body)).await
    }

    pub async fn delete_policy(&self, tenant: uuid::Uuid, id: uuid::Uuid) -> Result<(), Problem> {
        let path = format!("/api/v1/tenants/{tenant}/policies/{id}");
        self.send::<(), _>(Method::Delete, &path, None).await
    }

    /// What a user may do and why.
    pub async fn effective_access(
        &self,
        tenant: uuid::Uuid,
        user: uuid::Uuid,
    ) -> Result<EffectiveAccess, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/users/{user}/effective");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// Who may call a tool.
    pub async fn who_may_call(
        &self,
        tenant: uuid::Uuid,
        tool: &str,
    ) -> Result<ToolAccessList, Problem> {
        let query = query_string(&WhoQuery {
            tool: tool.to_string(),
        })?;
        let path = format!("/api/v1/tenants/{tenant}/policies/who{query}");
        self.send::<(), _>(Method::Get, &path, None).await
    }

    /// Would this call be allowed? (the policy tester)
    pub async fn evaluate_policy(
        &self,
        tenant: uuid::Uuid,
        question: &PolicyQuestion,
    ) -> Result<PolicyAnswer, Problem> {
        let path = format!("/api/v1/tenants/{tenant}/policies/evaluate");
        self.send(Method::Post, &path, Some(question)).await
    }

    /// The download URL of an audit export with `query`'s filters.
    pub fn audit_export_url(tenant: uuid::Uuid, query: &AuditQuery) -> String {
        format!(
            "/api/v1/tenants/{tenant}/audit/export{}",
            query_string(query).unwrap_or_default()
        )
    }

    /// Sends one request and decodes either the success body or the problem document.
    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, Problem> {
        let body = match body {
            Some(body) => {
                Some(serde_json::to_string(body).map_err(|e| Problem::client(e.to_string()))?)
            }
            None => None,
        };
        let (status, mut bytes) = self.transport(method, path, body).await?;
        if status == 204 {
            bytes = b"null".to_vec();
        }
        if (200..300).contains(&status) {
            serde_json::from_slice(&bytes)
                .map_err(|e| Problem::client(format!("unexpected response from {path}: {e}")))
        } else {
            Err(
                serde_json::from_slice::<Problem>(&bytes).unwrap_or_else(|_| {
                    Problem::client(format!("{} {path} answered {status}", method.as_str()))
                }),
            )
        }
    }

    #[cfg(feature = "ssr")]
    async fn transport(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, Vec<u8>), Problem> {
        use tower::ServiceExt;
        let Some(router) = self.router.clone() else {
            return Err(Problem::client("no in-process API router in this render"));
        };
        let mut request = http::Request::builder().method(method.as_str()).uri(path);
        // Forward the visitor's cookies so the API sees the same identity as the page.
        if let Some(cookie) = self.cookie.clone() {
            request = request.header(http::header::COOKIE, cookie);
        }
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(axum::body::Body::from(body.unwrap_or_default()))
            .map_err(|e| Problem::client(e.to_string()))?;
        let response = router
            .oneshot(request)
            .await
            .map_err(|e| Problem::client(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .map_err(|e| Problem::client(e.to_string()))?;
        Ok((status, bytes.to_vec()))
    }

    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    async fn transport(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, Vec<u8>), Problem> {
        use gloo_net::http::RequestBuilder;
        let builder = RequestBuilder::new(path).method(match method {
            Method::Get => gloo_net::http::Method::GET,
            Method::Post => gloo_net::http::Method::POST,
            Method::Put => gloo_net::http::Method::PUT,
            Method::Patch => gloo_net::http::Method::PATCH,
            Method::Delete => gloo_net::http::Method::DELETE,
        });
        // The session's CSRF token (double-submit, checked against the session server-side).
        let builder = match csrf_token() {
            Some(token) if method != Method::Get => builder.header("x-csrf-token", &token),
            _ => builder,
        };
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(body),
            None => builder.build(),
        }
        .map_err(|e| Problem::client(e.to_string()))?;
        let response = request
            .send()
            .await
            .map_err(|e| Problem::client(e.to_string()))?;
        let bytes = response
            .binary()
            .await
            .map_err(|e| Problem::client(e.to_string()))?;
        Ok((response.status(), bytes))
    }

    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    async fn transport(
        &self,
        _method: Method,
        _path: &str,
        _body: Option<String>,
    ) -> Result<(u16, Vec<u8>), Problem> {
        Err(Problem::client(
            "the API client needs the `ssr` or `hydrate` feature",
        ))
    }
}

/// The CSRF token from its cookie (readable by script by design; the session cookie is not).
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn csrf_token() -> Option<String> {
    use leptos::wasm_bindgen::JsCast;
    let document: web_sys::HtmlDocument = leptos::prelude::document().dyn_into().ok()?;
    let cookies = document.cookie().ok()?;
    cookies.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        matches!(name, "__Host-switchyard_csrf" | "switchyard_csrf").then(|| value.to_string())
    })
}

/// `?a=1&b=2` for a query struct, or the empty string when every field is absent.
fn query_string<Q: Serialize>(query: &Q) -> Result<String, Problem> {
    let value = serde_json::to_value(query).map_err(|e| Problem::client(e.to_string()))?;
    let mut pairs = Vec::new();
    if let serde_json::Value::Object(map) = value {
        for (key, value) in map {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            pairs.push(format!("{key}={}", percent_encode(&text)));
        }
    }
    Ok(if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Makes an API future acceptable to Leptos resources, which require `Send`. Browser futures
/// are not `Send`, but wasm32 has one thread, so the wrapper's same-thread check always holds.
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
pub fn sendable<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> + Send {
    send_wrapper::SendWrapper::new(future)
}

/// On the server the API futures are already `Send`.
#[cfg(any(feature = "ssr", not(feature = "hydrate")))]
pub fn sendable<F: std::future::Future + Send>(
    future: F,
) -> impl std::future::Future<Output = F::Output> + Send {
    future
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_skip_absent_fields_and_encode_values() {
        assert_eq!(query_string(&TenantQuery::default()).unwrap(), "");
        let query = TenantQuery {
            limit: Some(5),
            cursor: None,
            q: Some("a b&c".into()),
        };
        assert_eq!(query_string(&query).unwrap(), "?limit=5&q=a%20b%26c");
    }
}
