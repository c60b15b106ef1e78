//! The effective-permissions explorer: who may call a tool (`…/policies/who`), and what a
//! user may do and why (`…/users/{id}/effective`).

use app::api::{EffectiveAccess, Grant, Problem, ToolAccess, ToolAccessList, WhoQuery};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::Value;
use uuid::Uuid;

use super::authn::authorize;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use super::policies::to_api;
use crate::AppState;
use crate::access::{self, Applies, Permission, Subject, explain};
use crate::identity::Principal;

/// Most users `who` weighs in one answer.
const WHO_LIMIT: u32 = 200;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant_id}/policies/who", get(who))
        .route(
            "/api/v1/tenants/{tenant_id}/users/{id}/effective",
            get(effective),
        )
}

/// Who may call a tool: every user of the tenant (up to 200) with the deciding rule, and the
/// rules that would allow it only for some arguments.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/policies/who", tag = "policies",
    params(("tenant_id" = Uuid, Path), WhoQuery),
    responses(
        (status = 200, body = ToolAccessList),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn who(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<WhoQuery>,
) -> Result<Json<ToolAccessList>, ApiError> {
    let scope = authorize(
        &state,
        &principal,
        &ctx,
        tenant_id,
        Permission::PoliciesRead,
    )
    .await?;
    if !principal.can(Permission::UsersRead) {
        return Err(ApiError::Forbidden(
            "this action needs the permission users:read".into(),
        ));
    }
    let rules = access::load_rules(&state.store, &scope).await?;
    let (users, _) = state
        .store
        .list_users(&scope, None, None, None, WHO_LIMIT)
        .await?;
    let no_arguments = Value::Object(Default::default());
    let mut items = Vec::with_capacity(users.len());
    for user in users {
        let rows = state.store.user_roles(&scope, user.id).await?;
        let permissions = access::granted_by(&rows);
        let roles: Vec<String> = rows.into_iter().map(|r| r.name).collect();
        let subject = Subject {
            roles: &roles,
            permissions,
        };
        let (decision, trace) = explain(&rules, &subject, &query.tool, &no_arguments);
        let conditional = rules
            .iter()
            .zip(trace)
            .filter(|(r, (_, a))| {
                r.effect == access::Effect::Allow && matches!(a, Applies::ConditionFails(_))
            })
            .map(|(r, _)| r.name.clone())
            .collect();
        items.push(ToolAccess {
            user_id: user.id,
            email: user.email,
            allowed: decision.allowed && !user.disabled,
            rule: decision.rule_label(),
            conditional,
        });
    }
    Ok(Json(ToolAccessList {
        tool: query.tool,
        items,
    }))
}

/// What a user may do and why: each permission with the roles granting it, and the tool
/// rules that apply to the user.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users/{id}/effective", tag = "policies",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = EffectiveAccess),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn effective(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<EffectiveAccess>, ApiError> {
    let scope = authorize(&state, &principal, &ctx, tenant_id, Permission::UsersRead).await?;
    let user = state.store.get_user(&scope, id).await?;
    let roles = state.store.user_roles(&scope, id).await?;
    let permissions = Permission::ALL
        .into_iter()
        .filter_map(|p| {
            let granted_by: Vec<String> = roles
                .iter()
                .filter(|r| r.permission_set().contains(p))
                .map(|r| r.name.clone())
                .collect();
            let granted_by = if user.platform_admin {
                let mut all = granted_by;
                all.push("platform administrator".into());
                all
            } else {
                granted_by
            };
            (!granted_by.is_empty()).then(|| Grant {
                permission: p.as_str().into(),
                granted_by,
            })
        })
        .collect();
    let names: Vec<String> = roles.iter().map(|r| r.name.clone()).collect();
    let tool_rules = state
        .store
        .list_policies(&scope)
        .await?
        .into_iter()
        .filter(|p| p.role.as_ref().is_none_or(|r| names.contains(r)))
        .map(to_api)
        .collect();
    Ok(Json(EffectiveAccess {
        user_id: id,
        roles: names,
        platform_admin: user.platform_admin,
        permissions,
        tool_rules,
    }))
}
