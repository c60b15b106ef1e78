//! The OpenAPI document, generated from the handlers and types. A committed copy lives in
//! `server/openapi.json`; a test fails when it drifts from this.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard API", version = "1", description = "REST API of the Switchyard MCP platform. Errors are RFC 9457 problem documents."),
    paths(
        super::tenants::list, super::tenants::create, super::tenants::read, super::tenants::update, super::tenants::remove,
        super::users::list, super::users::create, super::users::read, super::users::update, super::users::remove,
        super::audit::search, super::audit::export, super::audit::verify,
    ),
    components(schemas(app::api::Problem, app::api::FieldError)),
    tags(
        (name = "tenants", description = "Organisations using the platform"),
        (name = "users", description = "People and service identities within a tenant"),
        (name = "audit", description = "The tenant's append-only, hash-chained audit trail"),
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON, exactly as served and committed.
pub fn document() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
