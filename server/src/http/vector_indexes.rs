//! `/api/v1/tenants/{tenant_id}/vector-indexes`: the indexes of the built-in vectors server
//! (issue #6), for administrators. Records are written and searched over MCP (the server's
//! tools); here indexes are listed, made and deleted, with the `upstreams:*` permissions (the
//! vectors server is one of the tenant's upstreams), and every change is audited.

use app::api::{FieldError, Problem, VectorIndex, VectorIndexInput, VectorIndexList};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
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
use crate::tools::vectors;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/vector-indexes",
            get(list).post(create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/vector-indexes/{name}",
            get(read).delete(remove),
        )
}

/// The tenant's vector indexes, by name.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/vector-indexes", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = VectorIndexList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<VectorIndexList>, ApiError> {
    let permission = Permission::UpstreamsRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let backend = state.upstreams.shared_builtins().vectors();
    let rows = state.store.list_vector_indexes(&scope).await?;
    let items = rows
        .iter()
        .map(|r| vectors::index_view(r, backend))
        .collect();
    Ok(Json(VectorIndexList { items }))
}

/// Make an empty index; records are upserted with the vectors server's tools.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/vector-indexes", tag = "upstreams",
    params(("tenant_id" = Uuid, Path)), request_body = VectorIndexInput,
    responses(
        (status = 201, body = VectorIndex),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<VectorIndexInput>,
) -> Result<impl IntoResponse, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let problems = body.problems();
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let builtins = state.upstreams.shared_builtins();
    let backend = builtins.vectors();
    let row = vectors::create_index(backend, builtins.remote(), &scope, &body)
        .await
        .map_err(|e| match e {
            vectors::CreateError::Store(e) => ApiError::from(e),
            vectors::CreateError::Host(problem) => {
                ApiError::Validation(vec![FieldError::new("pinecone.host", problem)])
            }
        })?;
    // Everything but the API key.
    let detail = json!({ "name": body.name, "dimension": body.dimension, "metric": body.metric,
        "backend": body.backend, "remote_host": row.remote_host });
    let event = ctx
        .origin()
        .event(principal.actor(), "vector_index.create", Outcome::Success)
        .target(format!("vector_index:{}", row.id))
        .detail(detail);
    audit::record(&state.store, scope.tenant_id(), event).await?;
    let location = format!("/api/v1/tenants/{tenant_id}/vector-indexes/{}", row.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(vectors::index_view(&row, backend)),
    ))
}

/// Read one index.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/vector-indexes/{name}", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("name" = String, Path)),
    responses(
        (status = 200, body = VectorIndex),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, name)): Path<(Uuid, String)>,
) -> Result<Json<VectorIndex>, ApiError> {
    let permission = Permission::UpstreamsRead;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let row = state.store.get_vector_index(&scope, &name).await?;
    let backend = state.upstreams.shared_builtins().vectors();
    Ok(Json(vectors::index_view(&row, backend)))
}

/// Delete an index and every record in it.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/vector-indexes/{name}", tag = "upstreams",
    params(("tenant_id" = Uuid, Path), ("name" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, name)): Path<(Uuid, String)>,
) -> Result<StatusCode, ApiError> {
    let permission = Permission::UpstreamsWrite;
    let scope = authorize(&state, &principal, &ctx, tenant_id, permission).await?;
    let row = state.store.get_vector_index(&scope, &name).await?;
    if !state.store.delete_vector_index(&scope, row.id).await? {
        return Err(ApiError::NotFound("vector index not found".into()));
    }
    state.upstreams.shared_builtins().vectors().forget(row.id);
    let event = ctx
        .origin()
        .event(principal.actor(), "vector_index.delete", Outcome::Success)
        .target(format!("vector_index:{}", row.id))
        .detail(json!({ "name": row.name, "vector_count": row.vector_count }));
    audit::record(&state.store, scope.tenant_id(), event).await?;
    Ok(StatusCode::NO_CONTENT)
}
