//! The OpenAI chat-completions wire format (the de facto standard that OpenAI, Azure OpenAI,
//! Ollama, vLLM and llama.cpp all serve): requests, answers, and the assembly of a streamed
//! answer from its `chat.completion.chunk` deltas, sent as server-sent events
//! (WHATWG HTML §9.2) and ended by `data: [DONE]`.

mod stream;

use app::api::TokenCount;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use stream::StreamAssembler;

/// One message of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    /// Always sent, `""` when there is none: llama.cpp's server refuses `null`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: String,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            ..Self::default()
        }
    }

    pub fn tool_result(call_id: &str, content: impl Into<String>) -> Self {
        Self {
            role: Role::Tool,
            content: content.into(),
            tool_call_id: Some(call_id.to_owned()),
            ..Self::default()
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    #[default]
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "system" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it (it may not parse).
    #[serde(default)]
    pub arguments: String,
}

fn function_type() -> String {
    "function".into()
}

/// A tool offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolSpec {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// Whether, and which, tool the model must call.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Function(String),
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolChoice::Auto => s.serialize_str("auto"),
            ToolChoice::None => s.serialize_str("none"),
            ToolChoice::Function(name) => serde_json::json!({
                "type": "function",
                "function": { "name": name },
            })
            .serialize(s),
        }
    }
}

/// A `POST …/chat/completions` body.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChatRequest {
    /// Absent for Azure, which takes the deployment from the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: Vec<Message>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Asks for the usage in a last chunk when streaming (OpenAI; others may ignore it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<Value>,
}

/// A chat completion's answer, whole or assembled from a stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    pub message: Message,
    pub finish_reason: Option<String>,
    /// As the provider reported it; `None` when it reported none.
    pub usage: Option<TokenCount>,
    /// `usage` is our estimate: the provider streamed the answer without reporting usage.
    pub usage_estimated: bool,
    pub model: Option<String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<Usage> for TokenCount {
    fn from(u: Usage) -> Self {
        TokenCount {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }
    }
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default, deserialize_with = "null_as_empty")]
    content: String,
    #[serde(default, deserialize_with = "null_as_default")]
    tool_calls: Vec<ToolCallDelta>,
}

/// A streamed piece of a tool call: the first names it, later ones add argument text.
#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    arguments: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    null_as_default(d)
}

/// Servers send `null` where OpenAI leaves a field out (llama.cpp: `"tool_calls": null`).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads a whole (non-streamed) answer.
pub fn completion(body: &[u8]) -> Result<Completion, String> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| format!("not a chat completion: {e}"))?;
    let choice = answer
        .choices
        .into_iter()
        .next()
        .ok_or("the answer has no choices")?;
    let mut message = choice.message.ok_or("the answer's choice has no message")?;
    message.role = Role::Assistant;
    Ok(Completion {
        message,
        finish_reason: choice.finish_reason,
        usage: answer.usage.map(Into::into),
        usage_estimated: false,
        model: answer.model,
    })
}

/// The embeddings of `POST …/embeddings`, in input order. A server that answers with one
/// vector per token (llama.cpp for a model without a pooling layer) has them mean-pooled,
/// as sentence-embedding models pool their token vectors.
pub fn embeddings(body: &[u8]) -> Result<(Vec<Vec<f32>>, Option<TokenCount>), String> {
    #[derive(Deserialize)]
    struct Embeddings {
        data: Vec<Item>,
        #[serde(default)]
        usage: Option<Usage>,
    }
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        index: usize,
        embedding: Vector,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Vector {
        Pooled(Vec<f32>),
        PerToken(Vec<Vec<f32>>),
    }
    let mut answer: Embeddings =
        serde_json::from_slice(body).map_err(|e| format!("not an embeddings answer: {e}"))?;
    answer.data.sort_by_key(|item| item.index);
    let mut vectors = Vec::with_capacity(answer.data.len());
    for item in answer.data {
        vectors.push(match item.embedding {
            Vector::Pooled(vector) => vector,
            Vector::PerToken(tokens) => mean(&tokens).ok_or_else(|| {
                format!(
                    "embedding {} has no tokens, or tokens of unequal sizes",
                    item.index
                )
            })?,
        });
    }
    Ok((vectors, answer.usage.map(Into::into)))
}

/// The mean of equally long vectors.
fn mean(vectors: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = vectors.first()?;
    if first.is_empty() || vectors.iter().any(|v| v.len() != first.len()) {
        return None;
    }
    let mut sum = vec![0f32; first.len()];
    for vector in vectors {
        for (total, x) in sum.iter_mut().zip(vector) {
            *total += x;
        }
    }
    let n = vectors.len() as f32;
    Some(sum.into_iter().map(|total| total / n).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_answer_reads_with_null_content() {
        let body = br#"{"model":"m","choices":[{"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
        let c = completion(body).unwrap();
        assert_eq!(c.message.content, "");
        assert_eq!(c.message.tool_calls[0].function.name, "f");
        assert_eq!(c.usage.unwrap().total(), 7);
        assert!(completion(b"{\"choices\":[]}").is_err());
        assert!(completion(b"[1]").is_err());
    }

    #[test]
    fn requests_serialise_as_the_wire_expects() {
        let request = ChatRequest {
            model: Some("m".into()),
            messages: vec![Message::new(Role::User, "hi")],
            tool_choice: Some(ToolChoice::Function("f".into())),
            ..ChatRequest::default()
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
            })
        );
    }

    #[test]
    fn embeddings_come_back_in_input_order() {
        let body = br#"{"data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]}"#;
        let (vectors, usage) = embeddings(body).unwrap();
        assert_eq!(vectors, vec![vec![1.0], vec![2.0]]);
        assert!(usage.is_none());
    }

    #[test]
    fn per_token_embeddings_are_mean_pooled() {
        let body = br#"{"data":[{"index":0,"embedding":[[1.0, 4.0], [3.0, 0.0]]}]}"#;
        let (vectors, _) = embeddings(body).unwrap();
        assert_eq!(vectors, vec![vec![2.0, 2.0]]);
        let ragged = br#"{"data":[{"index":0,"embedding":[[1.0], [3.0, 0.0]]}]}"#;
        assert!(embeddings(ragged).unwrap_err().contains("unequal"));
        let empty = br#"{"data":[{"index":0,"embedding":[[]]}]}"#;
        assert!(embeddings(empty).is_err());
    }
}
