//! A conversation's settings (title, model provider, instructions, agent workflow): merged
//! over what it had and checked, every problem at once, before anything is written.

use app::api::{ConversationInput, FieldError};
use uuid::Uuid;

use super::authn::authorize;
use super::check_fields;
use super::error::ApiError;
use super::extract::RequestContext;
use crate::AppState;
use crate::access::Permission;
use crate::identity::Principal;
use crate::store::{ConversationRecord, ConversationRow};
use crate::tenancy::TenantScope;

/// A conversation's settings once a request's are applied over what it had.
pub(super) struct Settings {
    title: String,
    provider: Option<String>,
    instructions: Option<String>,
    workflow_id: Option<Uuid>,
}

impl Settings {
    /// `input` over `kept` (a new conversation: over nothing): an absent field keeps its
    /// value, `""` (the nil UUID for the workflow) clears it.
    pub(super) fn merge(input: &ConversationInput, kept: Option<&ConversationRow>) -> Self {
        let pick = |given: &Option<String>, kept: Option<&String>| match given.as_deref() {
            None => kept.cloned(),
            Some("") => None,
            Some(text) => Some(text.to_owned()),
        };
        Self {
            title: input.title.as_deref().map(str::trim).map_or_else(
                || kept.map_or(crate::chat::DEFAULT_TITLE.to_owned(), |k| k.title.clone()),
                str::to_owned,
            ),
            provider: pick(&input.provider, kept.and_then(|k| k.provider.as_ref())),
            instructions: pick(
                &input.instructions,
                kept.and_then(|k| k.instructions.as_ref()),
            ),
            workflow_id: match input.workflow_id {
                None => kept.and_then(|k| k.workflow_id),
                Some(id) if id.is_nil() => None,
                Some(id) => Some(id),
            },
        }
    }

    pub(super) fn record(&self) -> ConversationRecord<'_> {
        ConversationRecord {
            title: &self.title,
            provider: self.provider.as_deref(),
            instructions: self.instructions.as_deref(),
            workflow_id: self.workflow_id,
        }
    }
}

/// Checks a conversation's settings, every problem at once. A workflow that answers needs
/// the caller's `workflows:run`, as each message starts a run of it.
pub(super) async fn check(
    state: &AppState,
    scope: &TenantScope,
    principal: &Principal,
    ctx: &RequestContext,
    input: &ConversationInput,
    settings: &Settings,
) -> Result<(), ApiError> {
    let providers = match input.provider.as_deref().filter(|p| !p.is_empty()) {
        Some(_) => state.store.list_llm_providers(scope).await?,
        None => Vec::new(),
    };
    let workflow = match input.workflow_id.filter(|id| !id.is_nil()) {
        Some(id) => {
            let tenant = scope.tenant_id();
            authorize(state, principal, ctx, tenant, Permission::WorkflowsRun).await?;
            Some(crate::chat::agent_workflow(&state.store, scope, id).await?)
        }
        None => None,
    };
    check_fields([
        match input.title.as_deref().map(str::trim) {
            Some(t) if t.is_empty() || t.chars().count() > 200 => {
                Err(FieldError::new("title", "must be 1–200 characters"))
            }
            _ => Ok(()),
        },
        match input.provider.as_deref().filter(|p| !p.is_empty()) {
            Some(name) if !providers.iter().any(|p| p.name == name) => Err(FieldError::new(
                "provider",
                format!("the tenant has no LLM provider named `{name}`"),
            )),
            _ => Ok(()),
        },
        match &input.instructions {
            Some(text) if text.chars().count() > 8_000 => Err(FieldError::new(
                "instructions",
                "must be at most 8,000 characters",
            )),
            _ => Ok(()),
        },
        match workflow {
            Some(Err(problem)) => Err(FieldError::new("workflow_id", problem)),
            _ if settings.workflow_id.is_some()
                && (settings.provider.is_some() || settings.instructions.is_some()) =>
            {
                Err(FieldError::new(
                    "workflow_id",
                    "a workflow answers with its own models and prompts: `provider` and \
                     `instructions` are the built-in agent's; clear them to use one",
                ))
            }
            _ => Ok(()),
        },
    ])
}
