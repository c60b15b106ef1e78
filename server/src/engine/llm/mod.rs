//! LLM providers (issue #5 point 4): each tenant's OpenAI-compatible endpoints, their keys
//! sealed by the vault, every request's tokens recorded against the tenant (and the run or
//! user it was for), and the tenant's monthly budget checked before each request.
//!
//! A provider's address is the administrator's choice, like an upstream's, so loopback and
//! private addresses are reachable (Ollama and llama.cpp usually run beside the gateway);
//! cloud metadata and link-local addresses never are (`outbound`).

mod client;
pub mod tools;
pub mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use app::api::{LlmProviderInput, LlmUsage, TokenCount};
use chrono::{Datelike, TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use client::Endpoint;
use wire::{ChatRequest, Completion};

use crate::config::Secret;
use crate::outbound::Reach;
use crate::store::{LlmProviderRow, Store, StoreError, UsageRecord};
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;
use crate::vault::{Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("there is no LLM provider `{0}`")]
    UnknownProvider(String),
    /// A request named no provider and the tenant has not exactly one enabled.
    #[error("{0}")]
    NoDefault(String),
    #[error("the LLM provider `{0}` is disabled")]
    Disabled(String),
    #[error("the tenant's monthly token budget is spent ({used} of {limit} tokens used)")]
    Budget { used: u64, limit: u64 },
    #[error("the LLM provider `{provider}` could not be reached: {reason}")]
    Unreachable { provider: String, reason: String },
    #[error("the LLM provider `{provider}` answered {status}: {message}")]
    Status {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("the LLM provider `{provider}` answered something unreadable: {reason}")]
    Malformed { provider: String, reason: String },
    #[error("the LLM provider `{0}` has no embedding model")]
    NoEmbeddings(String),
    #[error("the request was cancelled")]
    Cancelled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl LlmError {
    /// Worth trying again later: the provider was unreachable, overloaded or failing.
    pub fn transient(&self) -> bool {
        match self {
            LlmError::Unreachable { .. } => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Who a request is for, so its tokens are counted there.
#[derive(Clone, Copy, Debug)]
pub struct Purpose {
    pub kind: &'static str,
    pub run_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

/// A request's tokens, and whose count they are.
enum Counted {
    /// The provider's own.
    Reported(TokenCount),
    /// Ours: the provider streamed its answer and reported nothing (`client`).
    Estimated(TokenCount),
    /// Nobody's: nothing to count from, so zero.
    Unreported,
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Llm(Arc<Inner>);

struct Inner {
    store: Store,
    vault: Vault,
    metrics: Metrics,
    http: reqwest::Client,
}

/// What a key is sealed against: its tenant and provider, so a sealed key copied to another
/// row does not open.
fn context(tenant: Uuid, provider: Uuid) -> String {
    format!("llm-provider:{tenant}:{provider}")
}

/// The first instant of the current calendar month, UTC.
pub fn month_start() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

impl Llm {
    pub fn new(store: Store, vault: Vault, metrics: Metrics) -> Result<Self, reqwest::Error> {
        // Loopback and private reach, as for upstreams; never metadata or link-local.
        let http = Reach::Loopback
            .guard(reqwest::Client::builder())
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self(Arc::new(Inner {
            store,
            vault,
            metrics,
            http,
        })))
    }

    /// The key to store for `input`: sealed anew when one is given, `""` removes it, absent
    /// keeps `kept`.
    pub fn seal_key(
        &self,
        scope: &TenantScope,
        id: Uuid,
        input: &LlmProviderInput,
        kept: Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        match input.api_key.as_deref() {
            None => kept,
            Some("") => None,
            Some(key) => Some(
                self.0
                    .vault
                    .seal(&context(scope.tenant_id(), id), key.as_bytes()),
            ),
        }
    }

    fn endpoint(&self, row: LlmProviderRow) -> Result<Endpoint, LlmError> {
        let api_key = match &row.api_key_enc {
            Some(sealed) => {
                let plain = self
                    .0
                    .vault
                    .open_sealed(&context(row.tenant_id, row.id), sealed)?;
                Some(Secret::new(String::from_utf8_lossy(&plain).into_owned()))
            }
            None => None,
        };
        Ok(Endpoint {
            flavor: row.flavor(),
            name: row.name,
            base_url: row.base_url,
            model: row.model,
            embedding_model: row.embedding_model,
            api_version: row.api_version,
            api_key,
            timeout: Duration::from_secs(u64::try_from(row.timeout_secs).unwrap_or(120)),
        })
    }

    /// The enabled provider `name`, or with no name the tenant's only enabled one.
    pub async fn provider(
        &self,
        scope: &TenantScope,
        name: Option<&str>,
    ) -> Result<Endpoint, LlmError> {
        let rows = self.0.store.list_llm_providers(scope).await?;
        let row = match name {
            Some(name) => {
                let row = rows
                    .into_iter()
                    .find(|r| r.name == name)
                    .ok_or_else(|| LlmError::UnknownProvider(name.to_owned()))?;
                if !row.enabled {
                    return Err(LlmError::Disabled(row.name));
                }
                row
            }
            None => {
                let mut enabled: Vec<LlmProviderRow> =
                    rows.into_iter().filter(|r| r.enabled).collect();
                if enabled.len() != 1 {
                    let names: Vec<String> = enabled.iter().map(|r| r.name.clone()).collect();
                    return Err(LlmError::NoDefault(if names.is_empty() {
                        "the tenant has no enabled LLM provider".into()
                    } else {
                        format!(
                            "the tenant has several LLM providers; name one of {}",
                            names.join(", ")
                        )
                    }));
                }
                enabled.remove(0)
            }
        };
        self.endpoint(row)
    }

    /// The provider stored as `row`, enabled or not (for a test from the console).
    pub fn provider_of(&self, row: LlmProviderRow) -> Result<Endpoint, LlmError> {
        self.endpoint(row)
    }

    /// Refuses when the tenant's month's tokens have reached its budget.
    async fn within_budget(&self, scope: &TenantScope) -> Result<(), LlmError> {
        let Some(limit) = self.0.store.llm_budget(scope).await? else {
            return Ok(());
        };
        let used: u64 = self
            .0
            .store
            .llm_usage(scope, Some(month_start()), None)
            .await?
            .iter()
            .map(|m| m.tokens.total())
            .sum();
        if used >= limit {
            return Err(LlmError::Budget { used, limit });
        }
        Ok(())
    }

    /// One chat completion through `endpoint`, within the tenant's budget, its tokens
    /// recorded for `purpose`. Streamed when `request.stream`: each piece of text goes to
    /// `on_text` as it arrives.
    pub async fn chat(
        &self,
        scope: &TenantScope,
        endpoint: &Endpoint,
        purpose: Purpose,
        request: ChatRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
        stop: &CancellationToken,
    ) -> Result<Completion, LlmError> {
        let kind = if request.stream { "stream" } else { "chat" };
        if let Err(e) = self.within_budget(scope).await {
            self.0.metrics.llm_request(kind, "refused", Duration::ZERO);
            return Err(e);
        }
        let started = Instant::now();
        let answer = endpoint.chat(&self.0.http, request, on_text, stop).await;
        let outcome = if answer.is_ok() { "ok" } else { "error" };
        self.0.metrics.llm_request(kind, outcome, started.elapsed());
        let completion = answer?;
        let model = completion.model.as_deref().unwrap_or(&endpoint.model);
        let counted = match completion.usage {
            Some(tokens) if completion.usage_estimated => Counted::Estimated(tokens),
            Some(tokens) => Counted::Reported(tokens),
            None => Counted::Unreported,
        };
        self.count(scope, endpoint, model, purpose, counted).await?;
        Ok(completion)
    }

    /// Embeddings of `inputs` through `endpoint`, within the budget, tokens recorded.
    pub async fn embed(
        &self,
        scope: &TenantScope,
        endpoint: &Endpoint,
        purpose: Purpose,
        inputs: &[String],
        stop: &CancellationToken,
    ) -> Result<Vec<Vec<f32>>, LlmError> {
        if let Err(e) = self.within_budget(scope).await {
            self.0
                .metrics
                .llm_request("embed", "refused", Duration::ZERO);
            return Err(e);
        }
        let started = Instant::now();
        let answer = endpoint.embed(&self.0.http, inputs, stop).await;
        let outcome = if answer.is_ok() { "ok" } else { "error" };
        self.0
            .metrics
            .llm_request("embed", outcome, started.elapsed());
        let (vectors, usage) = answer?;
        let model = endpoint.embedding_model.as_deref().unwrap_or_default();
        let counted = usage.map_or(Counted::Unreported, Counted::Reported);
        self.count(scope, endpoint, model, purpose, counted).await?;
        Ok(vectors)
    }

    /// Records what a request used. A provider that reports no usage is counted as zero
    /// tokens, one request: the budget cannot see what the provider does not say. Either
    /// way a count that is not the provider's is marked so in the usage it adds to.
    async fn count(
        &self,
        scope: &TenantScope,
        endpoint: &Endpoint,
        model: &str,
        purpose: Purpose,
        counted: Counted,
    ) -> Result<(), LlmError> {
        let (tokens, estimated) = match counted {
            Counted::Reported(tokens) => (tokens, false),
            Counted::Estimated(tokens) => (tokens, true),
            Counted::Unreported => (TokenCount::default(), true),
        };
        self.0.metrics.llm_tokens("prompt", tokens.prompt_tokens);
        self.0
            .metrics
            .llm_tokens("completion", tokens.completion_tokens);
        let record = UsageRecord {
            provider: &endpoint.name,
            model,
            purpose: purpose.kind,
            run_id: purpose.run_id,
            user_id: purpose.user_id,
            tokens,
            estimated,
        };
        self.0.store.record_llm_usage(scope, &record).await?;
        Ok(())
    }

    /// This month's usage against the budget, or one run's usage.
    pub async fn usage(
        &self,
        scope: &TenantScope,
        run_id: Option<Uuid>,
    ) -> Result<LlmUsage, LlmError> {
        let since = run_id.is_none().then(month_start);
        let by_model = self.0.store.llm_usage(scope, since, run_id).await?;
        let mut used = TokenCount::default();
        for model in &by_model {
            used.add(model.tokens);
        }
        Ok(LlmUsage {
            since,
            monthly_tokens: self.0.store.llm_budget(scope).await?,
            used,
            by_model,
        })
    }
}
