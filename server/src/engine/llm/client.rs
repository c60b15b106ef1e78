//! Requests to one OpenAI-compatible provider: chat completions, whole or streamed, and
//! embeddings. Addressing and authentication differ by flavor (OpenAI: `{base}/chat/
//! completions` with a Bearer key; Azure OpenAI: `{base}/openai/deployments/{deployment}/
//! chat/completions?api-version=…` with an `api-key` header); the bodies are the same.

use std::time::Duration;

use app::api::LlmFlavor;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::LlmError;
use super::wire::{self, ChatRequest, Completion, StreamAssembler};
use crate::config::Secret;

/// Azure's API version unless the provider names one.
const AZURE_API_VERSION: &str = "2024-10-21";
/// The most bytes of one answer read (a whole answer, or a stream in all).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// One provider as a request needs it: where, as whom, which models.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: String,
    pub flavor: LlmFlavor,
    pub base_url: String,
    pub model: String,
    pub embedding_model: Option<String>,
    pub api_version: Option<String>,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
}

impl Endpoint {
    fn url(&self, model: &str, operation: &str) -> String {
        let base = self.base_url.trim_end_matches('/');
        match self.flavor {
            LlmFlavor::Openai => format!("{base}/{operation}"),
            LlmFlavor::Azure => format!(
                "{base}/openai/deployments/{model}/{operation}?api-version={}",
                self.api_version.as_deref().unwrap_or(AZURE_API_VERSION)
            ),
        }
    }

    fn request(
        &self,
        http: &reqwest::Client,
        model: &str,
        operation: &str,
    ) -> Result<reqwest::RequestBuilder, LlmError> {
        let mut request = http
            .post(self.url(model, operation))
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/json");
        if let Some(key) = self.api_key.as_ref().filter(|k| !k.is_empty()) {
            let (name, value) = match self.flavor {
                LlmFlavor::Openai => (AUTHORIZATION, format!("Bearer {}", key.expose())),
                LlmFlavor::Azure => (
                    "api-key".parse().expect("a header name"),
                    key.expose().into(),
                ),
            };
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| self.malformed("the API key is not a valid header value"))?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        Ok(request)
    }

    fn malformed(&self, reason: impl Into<String>) -> LlmError {
        LlmError::Malformed {
            provider: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> LlmError {
        let reason = if e.is_timeout() {
            format!("no answer within {} s", self.timeout.as_secs())
        } else if e.is_connect() {
            "could not connect".to_owned()
        } else {
            // reqwest's text names the URL, never headers; its source names the cause.
            let mut text = e.to_string();
            if let Some(source) = std::error::Error::source(e) {
                text = format!("{text}: {source}");
            }
            text
        };
        LlmError::Unreachable {
            provider: self.name.clone(),
            reason,
        }
    }

    /// Sends `request` and returns the response once its status is a success.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        stop: &CancellationToken,
    ) -> Result<reqwest::Response, LlmError> {
        let response = tokio::select! {
            sent = request.send() => sent.map_err(|e| self.unreachable(&e))?,
            () = stop.cancelled() => return Err(LlmError::Cancelled),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(LlmError::Status {
            provider: self.name.clone(),
            status: status.as_u16(),
            message: error_message(&body),
        })
    }

    /// One chat completion. With `request.stream`, each piece of text goes to `on_text` as
    /// it arrives. `stop` withdraws the request (the connection is dropped).
    pub async fn chat(
        &self,
        http: &reqwest::Client,
        mut request: ChatRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
        stop: &CancellationToken,
    ) -> Result<Completion, LlmError> {
        let model = request.model.clone().unwrap_or_else(|| self.model.clone());
        request.model = match self.flavor {
            LlmFlavor::Openai => Some(model.clone()),
            LlmFlavor::Azure => None,
        };
        if request.stream {
            request.stream_options = Some(json!({ "include_usage": true }));
        }
        let prompt_chars = serde_json::to_string(&request.messages).map_or(0, |m| m.len());
        let http_request = self
            .request(http, &model, "chat/completions")?
            .json(&request);
        let mut response = self.send(http_request, stop).await?;
        let mut completion = if request.stream {
            let mut assembler = StreamAssembler::default();
            let mut read = 0;
            loop {
                let chunk = tokio::select! {
                    chunk = response.chunk() => chunk.map_err(|e| self.unreachable(&e))?,
                    () = stop.cancelled() => return Err(LlmError::Cancelled),
                };
                let Some(chunk) = chunk else { break };
                read += chunk.len();
                if read > MAX_ANSWER_BYTES {
                    return Err(self.malformed("the streamed answer exceeds 16 MiB"));
                }
                let text = assembler.push(&chunk).map_err(|e| self.malformed(e))?;
                if !text.is_empty() {
                    on_text(&text);
                }
            }
            let pieces = assembler.pieces();
            let mut completion = assembler.finish().map_err(|e| self.malformed(e))?;
            if completion.usage.is_none() {
                // llama.cpp's server ignores `include_usage`: count one token per streamed
                // piece, and the prompt at four characters a token (its JSON, a slight
                // overestimate), so budgets still bind.
                completion.usage = Some(app::api::TokenCount {
                    prompt_tokens: u64::try_from(prompt_chars / 4).unwrap_or(u64::MAX),
                    completion_tokens: pieces,
                });
                completion.usage_estimated = true;
            }
            completion
        } else {
            let body = tokio::select! {
                body = read_limited(&mut response) => body.map_err(|e| match e {
                    Some(e) => self.unreachable(&e),
                    None => self.malformed("the answer exceeds 16 MiB"),
                })?,
                () = stop.cancelled() => return Err(LlmError::Cancelled),
            };
            wire::completion(&body).map_err(|e| self.malformed(e))?
        };
        completion.model.get_or_insert(model);
        Ok(completion)
    }

    /// Embeddings of `inputs`, in order, with the provider's embedding model.
    pub async fn embed(
        &self,
        http: &reqwest::Client,
        inputs: &[String],
        stop: &CancellationToken,
    ) -> Result<(Vec<Vec<f32>>, Option<app::api::TokenCount>), LlmError> {
        let model = self
            .embedding_model
            .clone()
            .ok_or_else(|| LlmError::NoEmbeddings(self.name.clone()))?;
        let body = match self.flavor {
            LlmFlavor::Openai => json!({ "model": model, "input": inputs }),
            LlmFlavor::Azure => json!({ "input": inputs }),
        };
        let request = self.request(http, &model, "embeddings")?.json(&body);
        let mut response = self.send(request, stop).await?;
        let body = read_limited(&mut response).await.map_err(|e| match e {
            Some(e) => self.unreachable(&e),
            None => self.malformed("the answer exceeds 16 MiB"),
        })?;
        let (vectors, usage) = wire::embeddings(&body).map_err(|e| self.malformed(e))?;
        if vectors.len() != inputs.len() {
            return Err(self.malformed(format!(
                "{} embeddings for {} inputs",
                vectors.len(),
                inputs.len()
            )));
        }
        Ok((vectors, usage))
    }
}

/// The body, up to [`MAX_ANSWER_BYTES`]; `None` as the error when it is longer.
async fn read_limited(response: &mut reqwest::Response) -> Result<Vec<u8>, Option<reqwest::Error>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Some)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The provider's own words from an error body (`{"error": {"message": …}}` for OpenAI and
/// Azure, `{"error": "…"}` or `{"detail": …}` elsewhere), at most 300 characters.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("detail"))
                .or_else(|| v.get("message"))
        })
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if text.trim().is_empty() {
        "no reason given".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(flavor: LlmFlavor) -> Endpoint {
        Endpoint {
            name: "p".into(),
            flavor,
            base_url: "https://example.test/v1/".into(),
            model: "m".into(),
            embedding_model: None,
            api_version: None,
            api_key: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn each_flavor_addresses_its_way() {
        assert_eq!(
            endpoint(LlmFlavor::Openai).url("m", "chat/completions"),
            "https://example.test/v1/chat/completions"
        );
        assert_eq!(
            endpoint(LlmFlavor::Azure).url("dep", "embeddings"),
            "https://example.test/v1/openai/deployments/dep/embeddings?api-version=2024-10-21"
        );
    }

    #[test]
    fn error_bodies_give_the_providers_words() {
        let openai = br#"{"error":{"message":"Invalid model","type":"x"}}"#;
        assert_eq!(error_message(openai), "Invalid model");
        assert_eq!(error_message(br#"{"detail":"nope"}"#), "nope");
        assert_eq!(error_message(b"plain\ntext"), "plaintext");
        assert_eq!(error_message(b""), "no reason given");
    }
}
