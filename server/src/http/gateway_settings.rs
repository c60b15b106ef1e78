//! `/api/v1/tenants/{tenant_id}/gateway-settings`: how the gateway treats the tenant's
//! calls beyond the tool policies — for now, whether their arguments are kept in the audit
//! trail (issue #4 point 5). Read with `policies:read`, changed with `policies:write`; every
//! change is audited.

use app::api::{GatewaySettings, Problem};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::identity::Principal;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/tenants/{tenant_id}/gateway-settings",
        get(read).put(replace),
    )
}

/// The tenant's gateway settings.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/gateway-settings", tag = "policies",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = GatewaySettings),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<GatewaySettings>, ApiError> {
    let permission = Permission::PoliciesRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let store_arguments = state.store.store_arguments(&scope).await?;
    Ok(Json(GatewaySettings { store_arguments }))
}

/// Change the tenant's gateway settings; applies from the next call on every replica.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/gateway-settings", tag = "policies",
    params(("tenant_id" = Uuid, Path)), request_body = GatewaySettings,
    responses(
        (status = 200, body = GatewaySettings),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn replace(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<GatewaySettings>,
) -> Result<Json<GatewaySettings>, ApiError> {
    let permission = Permission::PoliciesWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    state
        .store
        .set_store_arguments(&scope, body.store_arguments)
        .await?;
    let event = ctx
        .origin()
        .event(
            principal.actor(),
            "gateway_settings.update",
            Outcome::Success,
        )
        .target(format!("tenant:{tenant_id}"))
        .detail(json!({ "store_arguments": body.store_arguments }));
    audit::record(&state.store, tenant_id, event).await?;
    Ok(Json(body))
}
