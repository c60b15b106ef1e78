//! A tenant's LLM providers, the tokens its requests used, and its monthly budget
//! (migration sqlite/0016, postgres/0017). Provider keys arrive and leave sealed: the store
//! never sees them in the clear.

use app::api::{LlmFlavor, LlmProvider, LlmProviderInput, ModelUsage, TokenCount};
use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled};
use crate::tenancy::TenantScope;

/// A provider as stored, its sealed key included.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LlmProviderRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub flavor: String,
    pub base_url: String,
    pub model: String,
    pub embedding_model: Option<String>,
    pub api_version: Option<String>,
    pub api_key_enc: Option<Vec<u8>>,
    pub timeout_secs: i32,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl LlmProviderRow {
    pub fn flavor(&self) -> LlmFlavor {
        match self.flavor.as_str() {
            "azure" => LlmFlavor::Azure,
            _ => LlmFlavor::Openai,
        }
    }

    /// The API's view: the key only as whether there is one.
    pub fn public(&self) -> LlmProvider {
        LlmProvider {
            id: self.id,
            tenant_id: self.tenant_id,
            name: self.name.clone(),
            flavor: self.flavor(),
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            embedding_model: self.embedding_model.clone(),
            api_version: self.api_version.clone(),
            has_api_key: self.api_key_enc.is_some(),
            timeout_secs: u32::try_from(self.timeout_secs).unwrap_or_default(),
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// One request's tokens, as recorded.
#[derive(Clone, Debug)]
pub struct UsageRecord<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    /// `workflow`, `chat`, `test`.
    pub purpose: &'static str,
    pub run_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub tokens: TokenCount,
    /// The counts are ours, not the provider's (see [`app::api::ModelUsage`]).
    pub estimated: bool,
}

fn flavor_text(flavor: LlmFlavor) -> &'static str {
    match flavor {
        LlmFlavor::Openai => "openai",
        LlmFlavor::Azure => "azure",
    }
}

macro_rules! columns {
    () => {
        "id, tenant_id, name, flavor, base_url, model, embedding_model, api_version, \
         api_key_enc, timeout_secs, enabled, created_at, updated_at"
    };
}

/// Signed 64-bit for both databases; a count past i64 is not a real count.
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

impl Store {
    #[instrument(skip_all)]
    pub async fn list_llm_providers(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<LlmProviderRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM llm_providers WHERE tenant_id = $1 ORDER BY name"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).fetch_all(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn get_llm_provider(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<LlmProviderRow, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM llm_providers WHERE tenant_id = $1 AND id = $2"
        );
        let row: Option<LlmProviderRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("LLM provider"))
    }

    /// Creates a provider with the id its sealed key is bound to.
    #[instrument(skip_all)]
    pub async fn create_llm_provider(
        &self,
        scope: &TenantScope,
        id: Uuid,
        input: &LlmProviderInput,
        api_key_enc: Option<Vec<u8>>,
    ) -> Result<LlmProviderRow, StoreError> {
        let sql = concat!(
            "INSERT INTO llm_providers (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING ",
            columns!()
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(id).bind(scope.tenant_id()).bind(&input.name).bind(flavor_text(input.flavor))
                .bind(&input.base_url).bind(&input.model).bind(&input.embedding_model)
                .bind(&input.api_version).bind(&api_key_enc)
                .bind(i32::try_from(input.timeout_secs).unwrap_or(i32::MAX))
                .bind(input.enabled).bind(Utc::now())
                .fetch_one(pool).await?
        }))
    }

    /// Replaces everything but the id and creation time; `api_key_enc` is the key to keep.
    #[instrument(skip_all)]
    pub async fn replace_llm_provider(
        &self,
        scope: &TenantScope,
        id: Uuid,
        input: &LlmProviderInput,
        api_key_enc: Option<Vec<u8>>,
    ) -> Result<LlmProviderRow, StoreError> {
        let sql = concat!(
            "UPDATE llm_providers SET name = $3, flavor = $4, base_url = $5, model = $6, \
             embedding_model = $7, api_version = $8, api_key_enc = $9, timeout_secs = $10, \
             enabled = $11, updated_at = $12 WHERE tenant_id = $1 AND id = $2 RETURNING ",
            columns!()
        );
        let row: Option<LlmProviderRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(scope.tenant_id()).bind(id).bind(&input.name).bind(flavor_text(input.flavor))
                .bind(&input.base_url).bind(&input.model).bind(&input.embedding_model)
                .bind(&input.api_version).bind(&api_key_enc)
                .bind(i32::try_from(input.timeout_secs).unwrap_or(i32::MAX))
                .bind(input.enabled).bind(Utc::now())
                .fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("LLM provider"))
    }

    #[instrument(skip_all)]
    pub async fn delete_llm_provider(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM llm_providers WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("LLM provider"));
        }
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn record_llm_usage(
        &self,
        scope: &TenantScope,
        record: &UsageRecord<'_>,
    ) -> Result<(), StoreError> {
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        walled!(self, Wall::of(scope), pool => {
            sqlx::query(
                "INSERT INTO llm_usage (id, tenant_id, provider, model, purpose, run_id, user_id, \
                 prompt_tokens, completion_tokens, at, estimated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(Uuid::now_v7()).bind(scope.tenant_id()).bind(record.provider).bind(record.model)
            .bind(record.purpose).bind(record.run_id).bind(record.user_id)
            .bind(tokens(record.tokens.prompt_tokens)).bind(tokens(record.tokens.completion_tokens))
            .bind(Utc::now()).bind(record.estimated)
            .execute(pool).await?.rows_affected()
        });
        Ok(())
    }

    /// Tokens used since `since` (all of them when `None`), or by one run, by provider and
    /// model.
    #[instrument(skip_all)]
    pub async fn llm_usage(
        &self,
        scope: &TenantScope,
        since: Option<DateTime<Utc>>,
        run_id: Option<Uuid>,
    ) -> Result<Vec<ModelUsage>, StoreError> {
        let rows: Vec<(String, String, i64, i64, i64, i64)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(
                "SELECT provider, model, COUNT(*), CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN estimated THEN 1 ELSE 0 END), 0) AS BIGINT) FROM llm_usage \
                 WHERE tenant_id = $1 AND ($2 IS NULL OR at >= $2) AND ($3 IS NULL OR run_id = $3) \
                 GROUP BY provider, model ORDER BY provider, model",
            )
            .bind(scope.tenant_id()).bind(since).bind(run_id)
            .fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(provider, model, requests, prompt, completion, estimated)| ModelUsage {
                    provider,
                    model,
                    requests: count(requests),
                    estimated_requests: count(estimated),
                    tokens: TokenCount {
                        prompt_tokens: count(prompt),
                        completion_tokens: count(completion),
                    },
                },
            )
            .collect())
    }

    /// The tenant's monthly token budget, if it has one.
    #[instrument(skip_all)]
    pub async fn llm_budget(&self, scope: &TenantScope) -> Result<Option<u64>, StoreError> {
        let row: Option<(Option<i64>,)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT monthly_tokens FROM llm_budgets WHERE tenant_id = $1")
                .bind(scope.tenant_id()).fetch_optional(pool).await?
        });
        Ok(row.and_then(|(tokens,)| tokens).map(count))
    }

    #[instrument(skip_all)]
    pub async fn set_llm_budget(
        &self,
        scope: &TenantScope,
        monthly_tokens: Option<u64>,
    ) -> Result<(), StoreError> {
        let tokens = monthly_tokens.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        walled!(self, Wall::of(scope), pool => {
            sqlx::query(
                "INSERT INTO llm_budgets (tenant_id, monthly_tokens) VALUES ($1, $2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET monthly_tokens = excluded.monthly_tokens",
            )
            .bind(scope.tenant_id()).bind(tokens).execute(pool).await?.rows_affected()
        });
        Ok(())
    }
}
