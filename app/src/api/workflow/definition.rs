//! A workflow definition as written (JSON): the state's keys with their reducers, the nodes
//! and the edges between them. [`super::compile`] checks one and turns it into the graph a
//! run executes; every problem it finds names the field it is in.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The body of a workflow version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The run's state: every key a node may write, with its type and reducer.
    #[serde(default)]
    pub state: BTreeMap<String, StateKey>,
    /// The node the run starts at.
    pub start: String,
    /// The nodes by name (1–63 of `a-z`, `0-9`, `_`, `-`).
    pub nodes: BTreeMap<String, NodeSpec>,
    /// The most steps a run may take before it fails (default 1,000; at most 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    /// A run that has not finished this many seconds after it started fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_secs: Option<u64>,
}

/// One key of the state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StateKey {
    #[serde(rename = "type", default)]
    pub kind: KeyType,
    /// How a node's update combines with the current value.
    #[serde(default)]
    pub reducer: ReducerSpec,
    /// The value before any node wrote it; when absent, `[]` for `append`, `{}` for
    /// `merge`, `0` for `sum`, else `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// What a state key holds; `null` is always allowed (not set yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    #[default]
    Any,
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Any => "any",
            KeyType::String => "string",
            KeyType::Number => "number",
            KeyType::Integer => "integer",
            KeyType::Boolean => "boolean",
            KeyType::Array => "array",
            KeyType::Object => "object",
        }
    }

    pub fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (KeyType::Any, _) | (_, Value::Null) => true,
            (KeyType::String, Value::String(_)) | (KeyType::Boolean, Value::Bool(_)) => true,
            (KeyType::Number, Value::Number(_)) => true,
            (KeyType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            (KeyType::Array, Value::Array(_)) | (KeyType::Object, Value::Object(_)) => true,
            _ => false,
        }
    }
}

/// How an update to a key combines with its value: `replace` (the default), `append` (to an
/// array: an array update is appended item by item), `merge` (objects, shallowly), `sum`
/// (numbers), or `{"custom": "<expression over current and update>"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReducerSpec {
    #[default]
    Replace,
    Append,
    Merge,
    Sum,
    Custom(String),
}

/// What a node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Sets state keys to expressions over the state (`set`).
    Transform,
    /// Routes to the first route whose `when` holds, else `otherwise` (else the branch ends).
    Condition,
    /// Calls an MCP tool through the gateway as the run's principal; `arguments` is a
    /// template, `output` the key that receives the result.
    Tool,
    /// Pauses until a person approves or rejects, answering `form`.
    Approval,
    /// A chat completion through one of the tenant's LLM providers: `prompt` (or
    /// `messages`) rendered from the state, optionally with `tools` the model may call
    /// through the gateway as the run's principal (an agent loop of at most `max_rounds`
    /// completions); the answer's text goes to `output`.
    Llm,
    /// Parallel fan-out: `do` (a tool or llm node) once for each item of the list `over`
    /// evaluates to, at most `concurrency` at a time, its templates reading `item` and
    /// `index`; the results, in the list's order, go to `output` through its reducer.
    Map,
    /// Runs another of the tenant's workflows (its latest version) as a run of its own,
    /// started with `input` and acting for the same principal, and waits for it; its final
    /// state goes to `output`.
    Subgraph,
}

/// One node. Which fields apply depends on `kind`; a field of another kind is an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub kind: NodeKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// transform: state key → expression.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// condition: tried in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteSpec>,
    /// condition: where to go when no route holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<String>,
    /// tool: the gateway name (`upstream.tool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// tool: the arguments, where `"{{ expr }}"` is the expression's value and `{{ expr }}`
    /// inside a longer string its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// tool, approval, llm: the state key that receives the result, the decision or the
    /// answer's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// approval: what the approver is asked; llm: the user's message (template strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// llm: the provider's name (default: the tenant's only enabled provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// llm: the model, if not the provider's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// llm: the system message (a template string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// llm: the conversation instead of `prompt`: a template rendering to an array of
    /// `{"role": "user" | "assistant" | "system", "content": "…"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Value>,
    /// llm: the tools the model may call, by gateway name or glob (`math.*`); only those
    /// the run's principal may use are offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// llm: `auto` (default), `none`, or a tool's gateway name the first completion must
    /// call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    /// llm: the most completions in the agent loop (1–20, default 5); the last is asked
    /// for an answer without tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rounds: Option<u32>,
    /// subgraph: the workflow's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// subgraph: the child run's input (a template over the state, giving an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// map: an expression giving the list to fan out over (at most 10,000 items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<String>,
    /// map: what to do for each item: a `tool` or `llm` node without edges of its own.
    #[serde(default, rename = "do", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub each: Option<Box<NodeSpec>>,
    /// map: how many items at once (1–64, default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// llm: sampling temperature, 0–2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// llm: the most tokens one completion may produce (1–100,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// approval: the fields the approver fills in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<FormField>,
    /// approval: where a rejection goes (else the branch ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<String>,
    /// The nodes that run after this one; several run in parallel in the next step.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub next: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// How long one attempt may take (tool nodes: 60 s unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Where the run goes when this node fails after its retries (else the run fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// The state key that receives the failure (`{node, kind, message, attempts}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_output: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// An expression over `state`; the route is taken when it is true (truthy).
    pub when: String,
    pub to: String,
}

/// A field of an approval form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FormField {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: KeyType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(default)]
    pub required: bool,
}

/// Retries of a failed attempt: exponential backoff from `backoff_ms`, capped at
/// `max_backoff_ms`, with full jitter unless `jitter` is false.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (2–10).
    pub attempts: u32,
    #[serde(default = "backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default = "max_backoff_ms")]
    pub max_backoff_ms: u64,
    #[serde(default = "yes")]
    pub jitter: bool,
    /// Which failures are retried (default: timeout and upstream).
    #[serde(default = "retry_on")]
    pub on: Vec<FailureKind>,
}

/// Why a node failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The attempt took longer than `timeout_secs`.
    Timeout,
    /// The upstream failed, was unreachable, or its circuit is open.
    Upstream,
    /// The tool answered with `isError`.
    ToolError,
    /// The gateway refused (unknown tool, not the run's to use, rate limited), or the LLM
    /// provider refused the request (a 4xx other than 429, the budget spent).
    Refused,
    /// An expression or template failed, or a value did not fit its key.
    Expression,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Upstream => "upstream",
            FailureKind::ToolError => "tool_error",
            FailureKind::Refused => "refused",
            FailureKind::Expression => "expression",
        }
    }
}

fn backoff_ms() -> u64 {
    200
}

fn max_backoff_ms() -> u64 {
    10_000
}

fn yes() -> bool {
    true
}

fn retry_on() -> Vec<FailureKind> {
    vec![FailureKind::Timeout, FailureKind::Upstream]
}

/// `"next": "b"` and `"next": ["b", "c"]` both.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}
