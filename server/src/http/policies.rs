//! `/api/v1/tenants/{tenant_id}/policies`: tool rules and the "would this call be allowed?"
//! tester. Who may call a tool and a user's effective access are in `explorer.rs`.

use app::api::{
    NewToolPolicy, PolicyAnswer, PolicyQuestion, Problem, RuleTrace, ToolPolicy, ToolPolicyList,
    validate_identifier,
};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::check_fields;
use super::error::ApiError;
use super::extract::{Json, Path, RequestContext};
use crate::AppState;
use crate::access::{self, Applies, Condition, Glob, Permission, PermissionSet, Subject, explain};
use crate::audit::{self, Outcome};
use crate::identity::Principal;
use crate::store::{PolicyRecord, PolicyRow};
use crate::tenancy::TenantScope;

/// Most conditions one rule may carry.
const MAX_CONDITIONS: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/policies",
            get(list).post(create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/policies/{id}",
            get(read).put(replace).delete(remove),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/policies/evaluate",
            post(evaluate),
        )
}

pub(super) fn to_api(row: PolicyRow) -> ToolPolicy {
    ToolPolicy {
        id: row.id,
        name: row.name,
        effect: row.effect,
        tool_pattern: row.tool_pattern,
        role: row.role,
        conditions: row.conditions.0,
        priority: row.priority,
        confirm: row.confirm,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Validates a rule body (every field error at once) and resolves its role in the tenant.
async fn check_policy(
    state: &AppState,
    scope: &TenantScope,
    body: &NewToolPolicy,
) -> Result<Option<Uuid>, ApiError> {
    let field = |name: &str, message: String| app::api::FieldError::new(name, message);
    let conditions = if body.conditions.len() > MAX_CONDITIONS {
        Err(field(
            "conditions",
            format!("at most {MAX_CONDITIONS} conditions"),
        ))
    } else {
        body.conditions.iter().enumerate().try_for_each(|(i, raw)| {
            serde_json::from_value::<Condition>(raw.clone())
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate())
                .map_err(|message| field("conditions", format!("conditions[{i}]: {message}")))
        })
    };
    check_fields([
        validate_identifier("name", &body.name),
        match body.effect.as_str() {
            "allow" | "deny" => Ok(()),
            other => Err(field(
                "effect",
                format!("must be allow or deny, got `{other}`"),
            )),
        },
        if body.confirm && body.effect != "allow" {
            Err(field(
                "confirm",
                "only an allow rule can ask for confirmation".into(),
            ))
        } else {
            Ok(())
        },
        Glob::new(&body.tool_pattern)
            .map(|_| ())
            .map_err(|m| field("tool_pattern", m)),
        conditions,
    ])?;
    match &body.role {
        None => Ok(None),
        Some(name) => match state.store.role_by_name(scope, name).await {
            Ok(role) => Ok(Some(role.id)),
            Err(crate::store::StoreError::NotFound(_)) => Err(ApiError::Validation(vec![field(
                "role",
                format!("no role named `{name}` in this tenant"),
            )])),
            Err(e) => Err(e.into()),
        },
    }
}

fn record<'a>(body: &'a NewToolPolicy, role_id: Option<Uuid>) -> PolicyRecord<'a> {
    PolicyRecord {
        name: &body.name,
        effect: &body.effect,
        tool_pattern: &body.tool_pattern,
        role_id,
        conditions: &body.conditions,
        priority: body.priority,
        confirm: body.confirm,
    }
}

/// The tenant's tool rules, in the order they are weighed (deny first, then by priority).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/policies", tag = "policies",
    params(("tenant_id" = Uuid, Path)),
    responses(
        (status = 200, body = ToolPolicyList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
) -> Result<Json<ToolPolicyList>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesRead,
    )
    .await?;
    let rows = state.store.list_policies(&scope).await?;
    Ok(Json(ToolPolicyList {
        items: rows.into_iter().map(to_api).collect(),
    }))
}

/// Add a tool rule.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/policies", tag = "policies",
    params(("tenant_id" = Uuid, Path)), request_body = NewToolPolicy,
    responses(
        (status = 201, body = ToolPolicy),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(body): Json<NewToolPolicy>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesWrite,
    )
    .await?;
    let role_id = check_policy(&state, &scope, &body).await?;
    let row = state
        .store
        .create_policy(&scope, &record(&body, role_id))
        .await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "policy.create", Outcome::Success)
        .target(format!("policy:{}", row.id))
        .detail(serde_json::to_value(&body).unwrap_or_default());
    audit::record(&state.store, tenant_id, event).await?;
    // What each caller may see changed: open MCP sessions list again.
    state.mcp.watch.announce(tenant_id, "all").await;
    let location = format!("/api/v1/tenants/{tenant_id}/policies/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(to_api(row)),
    ))
}

/// Read one tool rule.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/policies/{id}", tag = "policies",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = ToolPolicy),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<ToolPolicy>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesRead,
    )
    .await?;
    Ok(Json(to_api(state.store.get_policy(&scope, id).await?)))
}

/// Replace a tool rule.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/policies/{id}", tag = "policies",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = NewToolPolicy,
    responses(
        (status = 200, body = ToolPolicy),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn replace(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<NewToolPolicy>,
) -> Result<Json<ToolPolicy>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesWrite,
    )
    .await?;
    let role_id = check_policy(&state, &scope, &body).await?;
    let row = state
        .store
        .replace_policy(&scope, id, &record(&body, role_id))
        .await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "policy.update", Outcome::Success)
        .target(format!("policy:{id}"))
        .detail(serde_json::to_value(&body).unwrap_or_default());
    audit::record(&state.store, tenant_id, event).await?;
    // What each caller may see changed: open MCP sessions list again.
    state.mcp.watch.announce(tenant_id, "all").await;
    Ok(Json(to_api(row)))
}

/// Delete a tool rule.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/policies/{id}", tag = "policies",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesWrite,
    )
    .await?;
    let row = state.store.get_policy(&scope, id).await?;
    state.store.delete_policy(&scope, id).await?;
    let event = ctx
        .origin()
        .event(principal.actor(), "policy.delete", Outcome::Success)
        .target(format!("policy:{id}"))
        .detail(json!({ "name": row.name }));
    audit::record(&state.store, tenant_id, event).await?;
    // What each caller may see changed: open MCP sessions list again.
    state.mcp.watch.announce(tenant_id, "all").await;
    Ok(StatusCode::NO_CONTENT)
}

/// The roles and permissions a question is asked for: a user's, named roles', or the caller's.
async fn subject_of(
    state: &AppState,
    scope: &TenantScope,
    principal: &Principal,
    question: &PolicyQuestion,
) -> Result<(Vec<String>, PermissionSet), ApiError> {
    if let Some(user_id) = question.user_id {
        state.store.get_user(scope, user_id).await?;
        let roles = state.store.user_roles(scope, user_id).await?;
        let granted = access::granted_by(&roles);
        return Ok((roles.into_iter().map(|r| r.name).collect(), granted));
    }
    if let Some(names) = &question.roles {
        let mut rows = Vec::new();
        for name in names {
            rows.push(state.store.role_by_name(scope, name).await.map_err(|_| {
                ApiError::Validation(vec![app::api::FieldError::new(
                    "roles",
                    format!("no role named `{name}` in this tenant"),
                )])
            })?);
        }
        let granted = access::granted_by(&rows);
        return Ok((rows.into_iter().map(|r| r.name).collect(), granted));
    }
    Ok((principal.roles.clone(), principal.effective()))
}

/// Would this call be allowed? The decision, the rule that made it, and every rule's part.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/policies/evaluate", tag = "policies",
    params(("tenant_id" = Uuid, Path)), request_body = PolicyQuestion,
    responses(
        (status = 200, body = PolicyAnswer),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn evaluate(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(question): Json<PolicyQuestion>,
) -> Result<Json<PolicyAnswer>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesRead,
    )
    .await?;
    if question.tool.trim().is_empty() {
        return Err(ApiError::Validation(vec![app::api::FieldError::new(
            "tool",
            "must name a tool as upstream.tool",
        )]));
    }
    let (roles, permissions) = subject_of(&state, &scope, &principal, &question).await?;
    let rules = access::load_rules(&state.store, &scope).await?;
    let subject = Subject {
        roles: &roles,
        permissions,
    };
    let arguments = if question.arguments.is_null() {
        json!({})
    } else {
        question.arguments.clone()
    };
    let (decision, trace) = explain(&rules, &subject, &question.tool, &arguments);
    let trace = rules
        .iter()
        .zip(trace)
        .map(|(rule, (_, applies))| {
            let (outcome, condition) = match applies {
                Applies::Yes => ("applies", None),
                Applies::PatternDiffers => ("pattern_differs", None),
                Applies::RoleDiffers => ("role_differs", None),
                Applies::ConditionFails(i) => (
                    "condition_fails",
                    serde_json::to_value(&rule.conditions[i]).ok(),
                ),
            };
            RuleTrace {
                rule: rule.name.clone(),
                effect: if rule.effect == access::Effect::Allow {
                    "allow"
                } else {
                    "deny"
                }
                .into(),
                outcome: outcome.into(),
                condition,
            }
        })
        .collect();
    Ok(Json(PolicyAnswer {
        allowed: decision.allowed,
        confirm: decision.confirm,
        rule: decision.rule_label(),
        reason: decision.reason,
        trace,
    }))
}
