//! A client of Pinecone's data plane (REST, API version `2025-04`): the vectors server's
//! backend for an index that lives at Pinecone. An administrator connects one by its host
//! and API key (sealed in the vault); the tools then read and write it as they do an
//! embedded index. Requests carry the key in `Api-Key`, go only to the registered host
//! (no redirects), and are bounded by a timeout.
//!
//! Wire formats: docs.pinecone.io/reference/api/2025-04/data-plane (upsert, fetch, list,
//! delete, query, describe_index_stats); the tests replay recorded exchanges.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::store::Metadata;

/// The API version every request names (`X-Pinecone-API-Version`).
pub const API_VERSION: &str = "2025-04";
const TIMEOUT: Duration = Duration::from_secs(20);

/// Why a Pinecone call failed, in words for the tool's caller (never the key).
#[derive(Debug, thiserror::Error)]
pub enum PineconeError {
    #[error(
        "Pinecone refused the API key (HTTP {0}); an administrator can replace it on the Vectors page"
    )]
    Unauthorized(u16),
    #[error("Pinecone: {0}")]
    Refused(String),
    #[error("Pinecone is limiting requests; try again shortly")]
    RateLimited,
    #[error("Pinecone did not answer: {0}")]
    Unavailable(String),
}

/// One index at Pinecone.
#[derive(Clone)]
pub struct Pinecone {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// A record as Pinecone sends and takes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub values: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// A query match.
#[derive(Clone, Debug, Deserialize)]
pub struct Match {
    pub id: String,
    pub score: f32,
    #[serde(default)]
    pub values: Vec<f32>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// What a query asks.
pub struct Question<'a> {
    pub vector: Option<&'a [f32]>,
    pub id: Option<&'a str>,
    pub top_k: usize,
    pub filter: Option<&'a Value>,
    pub include_values: bool,
    pub include_metadata: bool,
}

/// A page of record ids.
pub struct IdPage {
    pub ids: Vec<String>,
    pub next: Option<String>,
}

/// Which records a delete removes.
pub enum Deletion<'a> {
    Ids(&'a [String]),
    Filter(&'a Value),
    All,
}

/// The HTTP client Pinecone indexes share: no redirects (the key goes to the registered host
/// only), a timeout per request.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default()
}

/// The base URL of `host`: a bare host name (as Pinecone's console shows it) is HTTPS.
pub fn base_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.starts_with("https://") || host.starts_with("http://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    }
}

/// Why `host` cannot be a Pinecone index host, if it cannot: HTTPS only, except plain HTTP to
/// a loopback address (a local proxy or test double), and no path, query or credentials.
pub fn host_problem(host: &str) -> Option<&'static str> {
    let Ok(url) = reqwest::Url::parse(&base_url(host)) else {
        return Some("is not a host name or URL");
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Some("must be HTTPS (plain HTTP only to a loopback address)");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some("names no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("must not carry credentials; give the API key separately");
    }
    if url.path() != "/" || url.query().is_some() {
        return Some("must be the index host alone, without a path or query");
    }
    None
}

impl Pinecone {
    pub fn new(http: reqwest::Client, host: &str, key: String) -> Self {
        Self {
            http,
            base: base_url(host),
            key,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, PineconeError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Api-Key", &self.key)
            .header("X-Pinecone-API-Version", API_VERSION)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PineconeError::Unavailable(without_url(e)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| PineconeError::Unavailable(without_url(e)))?;
        match status {
            s if s.is_success() => {
                if text.trim().is_empty() {
                    return Ok(json!({}));
                }
                serde_json::from_str(&text)
                    .map_err(|_| PineconeError::Unavailable("its answer was not JSON".into()))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(PineconeError::Unauthorized(status.as_u16()))
            }
            StatusCode::TOO_MANY_REQUESTS => Err(PineconeError::RateLimited),
            s if s.is_client_error() => Err(PineconeError::Refused(message(&text, status))),
            _ => Err(PineconeError::Unavailable(message(&text, status))),
        }
    }

    /// `POST /vectors/upsert`: how many records Pinecone took.
    pub async fn upsert(&self, records: &[Record]) -> Result<u64, PineconeError> {
        let answer = self
            .send(
                Method::POST,
                "/vectors/upsert",
                Some(json!({ "vectors": records, "namespace": "" })),
            )
            .await?;
        Ok(answer["upsertedCount"].as_u64().unwrap_or(0))
    }

    /// `GET /vectors/fetch`: the records among `ids` that exist.
    pub async fn fetch(&self, ids: &[String]) -> Result<Vec<Record>, PineconeError> {
        let query: Vec<String> = ids
            .iter()
            .map(|id| format!("ids={}", urlencode(id)))
            .collect();
        let path = format!("/vectors/fetch?{}&namespace=", query.join("&"));
        let answer = self.send(Method::GET, &path, None).await?;
        let mut records: Vec<Record> = match answer.get("vectors") {
            Some(Value::Object(map)) => map
                .values()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect(),
            _ => Vec::new(),
        };
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// `GET /vectors/list`: ids in order, `limit` at a time.
    pub async fn list(
        &self,
        prefix: &str,
        limit: u32,
        token: Option<&str>,
    ) -> Result<IdPage, PineconeError> {
        let mut path = format!("/vectors/list?limit={limit}&namespace=");
        if !prefix.is_empty() {
            path.push_str(&format!("&prefix={}", urlencode(prefix)));
        }
        if let Some(token) = token {
            path.push_str(&format!("&paginationToken={}", urlencode(token)));
        }
        let answer = self.send(Method::GET, &path, None).await?;
        let ids = answer["vectors"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|r| r["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let next = answer["pagination"]["next"].as_str().map(str::to_owned);
        Ok(IdPage { ids, next })
    }

    /// `POST /vectors/delete`.
    pub async fn delete(&self, which: Deletion<'_>) -> Result<(), PineconeError> {
        let body = match which {
            Deletion::Ids(ids) => json!({ "ids": ids, "namespace": "" }),
            Deletion::Filter(filter) => json!({ "filter": filter, "namespace": "" }),
            Deletion::All => json!({ "deleteAll": true, "namespace": "" }),
        };
        self.send(Method::POST, "/vectors/delete", Some(body))
            .await?;
        Ok(())
    }

    /// `POST /query`: matches, best first.
    pub async fn query(&self, question: &Question<'_>) -> Result<Vec<Match>, PineconeError> {
        let mut body = json!({
            "topK": question.top_k,
            "includeValues": question.include_values,
            "includeMetadata": question.include_metadata,
            "namespace": "",
        });
        if let Some(vector) = question.vector {
            body["vector"] = json!(vector);
        }
        if let Some(id) = question.id {
            body["id"] = json!(id);
        }
        if let Some(filter) = question.filter {
            body["filter"] = filter.clone();
        }
        let answer = self.send(Method::POST, "/query", Some(body)).await?;
        Ok(answer
            .get("matches")
            .cloned()
            .and_then(|m| serde_json::from_value(m).ok())
            .unwrap_or_default())
    }

    /// `POST /describe_index_stats`: the records the index holds (Pinecone counts them
    /// eventually, so a write may show a moment later).
    pub async fn count(&self) -> Result<u64, PineconeError> {
        let answer = self
            .send(Method::POST, "/describe_index_stats", Some(json!({})))
            .await?;
        Ok(answer["totalVectorCount"].as_u64().unwrap_or(0))
    }
}

/// Pinecone's error message: `{"code": 3, "message": …}` on the data plane,
/// `{"error": {"message": …}}` on the control plane, else the status.
fn message(text: &str, status: StatusCode) -> String {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    body["message"]
        .as_str()
        .or_else(|| body["error"]["message"].as_str())
        .map(|m| m.chars().take(500).collect())
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()))
}

/// A transport error without the URL (which names the host, harmless, but also any query).
fn without_url(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    kind.to_owned()
}

fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_https_or_loopback_http() {
        assert_eq!(host_problem("idx-abc.svc.aped-4627-b74a.pinecone.io"), None);
        assert_eq!(host_problem("https://idx.svc.pinecone.io/"), None);
        assert_eq!(host_problem("http://127.0.0.1:9000"), None);
        assert!(host_problem("http://idx.svc.pinecone.io").is_some());
        assert!(host_problem("https://user:pw@idx.pinecone.io").is_some());
        assert!(host_problem("https://idx.pinecone.io/query").is_some());
        assert!(host_problem("").is_some());
        assert_eq!(urlencode("a b/ü"), "a%20b%2F%C3%BC");
    }
}
