//! `/api/v1/tenants/{tenant_id}/audit`: search, export and chain verification.

use app::api::{AuditList, AuditQuery, AuditRecord, AuditVerification, Problem};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use super::{page_limit, search_text};
use crate::AppState;
use crate::access::Permission;
use crate::audit::{self, Outcome};
use crate::identity::Principal;
use crate::store::AuditFilter;

/// Most records one export returns; narrow the time range for more.
const EXPORT_LIMIT: u32 = 100_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/audit", get(search))
        .route("/api/v1/tenants/{tenant_id}/audit/export", get(export))
        .route("/api/v1/tenants/{tenant_id}/audit/verify", get(verify))
}

/// Records an administrative action of the caller in the tenant's
/// audit trail, before the response is sent.
pub(super) async fn admin_action(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    tenant_id: Uuid,
    action: &'static str,
    target: String,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    let event = ctx
        .origin()
        .event(principal.actor(), action, Outcome::Success)
        .target(target)
        .detail(detail);
    audit::record(&state.store, tenant_id, event).await?;
    Ok(())
}

fn filter(query: &AuditQuery) -> Result<AuditFilter<'_>, ApiError> {
    if let Some(outcome) = query.outcome.as_deref()
        && !["success", "failure", "denied"].contains(&outcome)
    {
        return Err(ApiError::BadRequest(format!(
            "outcome must be success, failure or denied, got `{outcome}`"
        )));
    }
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(ApiError::BadRequest("from must be earlier than to".into()));
    }
    Ok(AuditFilter {
        actor: query.actor.as_deref(),
        action: query.action.as_deref(),
        outcome: query.outcome.as_deref(),
        from: query.from,
        to: query.to,
        q: search_text(query.q.as_deref())?,
    })
}

/// Search a tenant's audit records, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/audit", tag = "audit",
    params(("tenant_id" = Uuid, Path), AuditQuery),
    responses(
        (status = 200, body = AuditList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn search(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    if query.format.is_some() {
        return Err(ApiError::BadRequest(
            "format applies to /audit/export only".into(),
        ));
    }
    let limit = page_limit(query.limit)?;
    let filter = filter(&query)?;
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::AuditRead).await?;
    let (rows, next_cursor) = state
        .store
        .search_audit(&scope, &filter, query.cursor, limit)
        .await?;
    Ok(Json(AuditList {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Export the matching records (newest first, at most 100,000) as JSON or CSV.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/audit/export", tag = "audit",
    params(("tenant_id" = Uuid, Path), AuditQuery),
    responses(
        (status = 200, description = "JSON array or CSV document of records", body = [AuditRecord]),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn export(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    if query.limit.is_some() || query.cursor.is_some() {
        return Err(ApiError::BadRequest(
            "the export takes filters, not limit or cursor".into(),
        ));
    }
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "format must be json or csv, got `{other}`"
            )));
        }
    };
    let filter = filter(&query)?;
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::AuditRead).await?;
    let (rows, _) = state
        .store
        .search_audit(&scope, &filter, None, EXPORT_LIMIT)
        .await?;
    let records: Vec<AuditRecord> = rows.into_iter().map(Into::into).collect();
    let (body, content_type, extension) = if csv {
        (audit::to_csv(&records), "text/csv; charset=utf-8", "csv")
    } else {
        let json =
            serde_json::to_string(&records).map_err(|e| ApiError::Internal(e.to_string()))?;
        (json, "application/json", "json")
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"audit-{tenant_id}.{extension}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Re-compute the tenant's hash chain and say whether any record was changed or removed.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/audit/verify", tag = "audit",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = AuditVerification),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn verify(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<AuditVerification>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::AuditRead).await?;
    Ok(Json(audit::verify(&state.store, &scope).await?))
}
