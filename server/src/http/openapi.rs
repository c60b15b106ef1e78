//! The OpenAPI document, generated from the handlers and types. A committed copy lives in
//! `server/openapi.json`; a test fails when it drifts from this.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard API", version = "1", description = "REST API of the Switchyard MCP platform. Errors are RFC 9457 problem documents."),
    paths(
        super::tenants::list, super::tenants::create, super::tenants::read, super::tenants::update, super::tenants::remove, super::tenants::limits, super::tenants::set_limits,
        super::users::list, super::users::create, super::users::read, super::users::update, super::users::remove,
        super::invitations::create, super::invitations::list, super::invitations::withdraw, super::invitations::inspect, super::invitations::accept,
        super::audit::search, super::audit::export, super::audit::verify,
        super::auth::token, super::auth::refresh, super::auth::revoke, super::auth::open_session, super::auth::close_session,
        super::auth::me, super::auth::change_password, super::auth::sign_out_everywhere,
        super::auth::begin_totp, super::auth::confirm_totp, super::auth::disable_totp, super::auth::jwks,
        super::keys::list, super::keys::create, super::keys::revoke, super::keys::rotate,
        super::roles::list, super::roles::create, super::roles::replace, super::roles::remove, super::roles::require_mfa,
        super::roles::user_roles, super::roles::set_user_roles,
        super::accounts::unlock, super::accounts::reset_password, super::accounts::reset_mfa, super::accounts::sign_out,
        super::policies::list, super::policies::create, super::policies::read, super::policies::replace, super::policies::remove,
        super::upstreams::list, super::upstreams::create, super::upstreams::create_builtin, super::upstreams::read, super::upstreams::replace, super::upstreams::remove, super::upstreams::test, super::upstream_oauth::start, super::upstream_oauth::callback, super::tools::list, super::tools::call, super::tools::stats, super::tools::catalog,
        super::virtual_servers::list, super::virtual_servers::create, super::virtual_servers::read, super::virtual_servers::replace, super::virtual_servers::remove,
        super::vector_indexes::list, super::vector_indexes::create, super::vector_indexes::read, super::vector_indexes::remove,
        super::policies::evaluate, super::explorer::who, super::explorer::effective,
        super::gateway_settings::read, super::gateway_settings::replace,
        super::oauth_grants::request, super::oauth_grants::answer, super::oauth_grants::consents, super::oauth_grants::withdraw,
        super::workflows::list, super::workflows::create, super::workflows::read, super::workflows::replace, super::workflows::remove, super::workflows::start, super::workflows::version,
        super::runs::list, super::runs::read, super::runs::checkpoints, super::runs::decide, super::runs::cancel, super::runs::fork, super::run_events::events,
        super::chat::list, super::chat::create, super::chat::read, super::chat::update, super::chat::remove, super::chat::messages, super::chat::send, super::chat::approve, super::chat::events, super::chat::stop,
        super::llm::list, super::llm::create, super::llm::read, super::llm::replace, super::llm::remove, super::llm::test, super::llm::usage, super::llm::budget,
    ),
    components(schemas(app::api::Problem, app::api::FieldError)),
    modifiers(&BearerAuth),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "tenants", description = "Organisations using the platform"),
        (name = "users", description = "People and service identities within a tenant"),
        (name = "audit", description = "The tenant's append-only, hash-chained audit trail"),
        (name = "auth", description = "Sign-in, tokens, sessions, MFA and API keys"),
        (name = "roles", description = "Roles and role assignment within a tenant"),
        (name = "policies", description = "Tool policies, the policy tester and the effective-permissions explorer"),
        (name = "upstreams", description = "The gateway's upstream MCP servers"),
        (name = "admin", description = "Platform administration"),
        (name = "workflows", description = "Workflow definitions, their durable runs, checkpoints and approvals"),
        (name = "chat", description = "A user's conversations with the agent that calls their tools, with approvals"),
        (name = "llm", description = "The tenant's LLM providers, their token usage and its monthly budget"),
        (name = "oauth", description = "The consent page of OAuth for MCP clients, and the apps a user allowed"),
    )
)]
pub struct ApiDoc;

/// Declares the two ways to authenticate: a bearer token (JWT or API key) or the console's
/// session cookie.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or sy_ API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                "__Host-switchyard_session",
            ))),
        );
    }
}

/// The document as pretty JSON, exactly as served and committed.
pub fn document() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
