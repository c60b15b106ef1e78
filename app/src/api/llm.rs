//! LLM providers: OpenAI-compatible chat-completion and embedding endpoints a tenant
//! configures (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp), its monthly token budget and
//! the tokens it used. Workflow `llm` nodes and the chat reach models only through these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FieldError, validate_identifier};

/// How requests are addressed and authenticated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LlmFlavor {
    /// `{base_url}/chat/completions` with `Authorization: Bearer <key>` (OpenAI, Ollama,
    /// vLLM, llama.cpp, LiteLLM and the like; `base_url` usually ends in `/v1`).
    #[default]
    Openai,
    /// `{base_url}/openai/deployments/{model}/chat/completions?api-version=…` with an
    /// `api-key` header; `model` is the deployment name.
    Azure,
}

/// Body of `POST /api/v1/tenants/{tenant_id}/llm-providers` and `PUT …/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LlmProviderInput {
    /// How workflows name it: lowercase letters, digits, `-`, `_`.
    pub name: String,
    #[serde(default)]
    pub flavor: LlmFlavor,
    /// `http(s)://host[:port]/path`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The chat model (Azure: the deployment) used unless a node names another.
    pub model: String,
    /// The embedding model (Azure: deployment), if this provider embeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_model: Option<String>,
    /// Azure's `api-version` (default `2024-10-21`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Write-only: stored encrypted, never returned. On `PUT`, absent keeps the stored key
    /// and `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// How long one request may take, 1–600 s.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn default_timeout() -> u32 {
    120
}

fn enabled() -> bool {
    true
}

/// A stored provider; its key appears only as `has_api_key`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LlmProvider {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub flavor: LlmFlavor,
    pub base_url: String,
    pub model: String,
    pub embedding_model: Option<String>,
    pub api_version: Option<String>,
    pub has_api_key: bool,
    pub timeout_secs: u32,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LlmProvider {
    /// The same provider as an input, for editing (the key is kept unless typed anew).
    pub fn to_input(&self) -> LlmProviderInput {
        LlmProviderInput {
            name: self.name.clone(),
            flavor: self.flavor,
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            embedding_model: self.embedding_model.clone(),
            api_version: self.api_version.clone(),
            api_key: None,
            timeout_secs: self.timeout_secs,
            enabled: self.enabled,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LlmProviderList {
    pub items: Vec<LlmProvider>,
}

/// What `POST …/llm-providers/{id}/test` found: the provider answered a one-word prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LlmProbe {
    pub model: String,
    pub reply: String,
    pub latency_ms: u64,
    pub usage: TokenCount,
}

/// Tokens of one request or summed over many.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenCount {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl TokenCount {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    pub fn add(&mut self, other: TokenCount) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Body of `PUT /api/v1/tenants/{tenant_id}/llm-budget`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LlmBudget {
    /// Tokens (prompt and completion) the tenant may use per calendar month (UTC); `null`:
    /// no limit. A request that would start over it is refused.
    pub monthly_tokens: Option<u64>,
}

/// Query of `GET …/llm-usage`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct LlmUsageQuery {
    /// Only this workflow run's tokens (any month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Uuid>,
}

/// Tokens used by one provider and model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ModelUsage {
    pub provider: String,
    pub model: String,
    pub requests: u64,
    /// Of those, the requests whose tokens the provider did not report: counted by
    /// Switchyard's estimate (a streamed answer: a token per streamed piece, the prompt at four
    /// characters a token), or as zero where there was nothing to count.
    #[serde(default)]
    pub estimated_requests: u64,
    #[serde(flatten)]
    pub tokens: TokenCount,
}

/// `GET …/llm-usage`: this month's tokens against the budget, or one run's tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LlmUsage {
    /// The first instant counted (the month's start; absent for a run).
    pub since: Option<DateTime<Utc>>,
    pub monthly_tokens: Option<u64>,
    pub used: TokenCount,
    pub by_model: Vec<ModelUsage>,
}

impl LlmProviderInput {
    /// Every problem with the input, each naming its field.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = Vec::new();
        errors.extend(validate_identifier("name", &self.name).err());
        errors.extend(base_url_problem(&self.base_url));
        for (field, value) in [
            ("model", Some(&self.model)),
            ("embedding_model", self.embedding_model.as_ref()),
            ("api_version", self.api_version.as_ref()),
        ] {
            let Some(value) = value else { continue };
            // vLLM serves models under their hub names (`org/model`); an Azure deployment
            // is a path segment.
            let slash_ok = self.flavor == LlmFlavor::Openai && field != "api_version";
            let fits = (1..=200).contains(&value.len())
                && value
                    .chars()
                    .all(|c| c.is_ascii_graphic() && (c != '/' || slash_ok));
            if !fits {
                errors.push(FieldError::new(
                    field,
                    "1 to 200 printable characters, no spaces (and no `/` for Azure)",
                ));
            }
        }
        if let Some(key) = &self.api_key
            && (key.len() > 4096 || key.chars().any(|c| c.is_control()))
        {
            errors.push(FieldError::new(
                "api_key",
                "at most 4096 characters, none of them control characters",
            ));
        }
        if !(1..=600).contains(&self.timeout_secs) {
            errors.push(FieldError::new("timeout_secs", "must be between 1 and 600"));
        }
        if self.flavor == LlmFlavor::Openai && self.api_version.is_some() {
            errors.push(FieldError::new(
                "api_version",
                "only an Azure provider takes an api_version",
            ));
        }
        errors
    }
}

fn base_url_problem(url: &str) -> Option<FieldError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or_default());
    let fits = url.len() <= 2048
        && host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
        && !url.contains(['?', '#', ' '])
        && !url.chars().any(|c| c.is_control());
    (!fits).then(|| {
        FieldError::new(
            "base_url",
            "an http(s) URL without user, query or fragment, e.g. https://api.openai.com/v1",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> LlmProviderInput {
        LlmProviderInput {
            name: "local".into(),
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "smollm2".into(),
            timeout_secs: 60,
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_provider_has_no_problems() {
        assert!(good().problems().is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        type Spoil = fn(&mut LlmProviderInput);
        let cases: [(&str, Spoil); 7] = [
            ("name", |p| p.name = "Bad Name".into()),
            ("base_url", |p| p.base_url = "ftp://x".into()),
            ("base_url", |p| p.base_url = "https://user@host/v1".into()),
            ("model", |p| p.model = String::new()),
            ("api_key", |p| p.api_key = Some("a\nb".into())),
            ("timeout_secs", |p| p.timeout_secs = 0),
            ("api_version", |p| p.api_version = Some("2024".into())),
        ];
        for (field, spoil) in cases {
            let mut input = good();
            spoil(&mut input);
            let fields: Vec<String> = input.problems().into_iter().map(|e| e.field).collect();
            assert_eq!(fields, [field], "{input:?}");
        }
    }
}
