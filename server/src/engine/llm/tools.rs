//! The tools an agent offers its model, shared by `llm` workflow nodes and the chat: the
//! gateway's catalog as the caller sees it (so what the caller may not call is never
//! offered, and cannot be chosen), under names the wire allows, each mapped back to its
//! gateway name; and what a model reads of a tool's result.

use std::collections::HashMap;

use rmcp::model::{CallToolResult, ToolAnnotations};
use serde_json::Value;

use super::wire::{FunctionSpec, ToolSpec};
use crate::gateway::{Caller, Gateway, GatewayError};

/// The most characters of one tool result handed back to the model.
pub const MAX_TOOL_RESULT_CHARS: usize = 16_000;

/// The tools offered, under wire names (`^[a-zA-Z0-9_-]{1,64}$`).
#[derive(Default)]
pub struct Offered {
    pub specs: Vec<ToolSpec>,
    /// Wire name → gateway name.
    pub gateway_names: HashMap<String, String>,
    /// Gateway name → the tool's annotations (MCP 2025-11-25 server/tools §Tool Annotations).
    pub annotations: HashMap<String, ToolAnnotations>,
}

impl Offered {
    /// The caller's tools whose gateway names `wanted` accepts.
    pub async fn from_catalog(
        gateway: &Gateway,
        caller: &Caller<'_>,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Self, GatewayError> {
        let mut offered = Self::default();
        let catalog = gateway.catalog(caller).await?;
        for tool in catalog.tools {
            if !wanted(&tool.name) {
                continue;
            }
            let wire = wire_name(&tool.name, &offered.gateway_names);
            offered.specs.push(ToolSpec {
                kind: "function",
                function: FunctionSpec {
                    name: wire.clone(),
                    description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
                    parameters: Value::Object((*tool.input_schema).clone()),
                },
            });
            if let Some(annotations) = tool.annotations {
                offered
                    .annotations
                    .insert(tool.name.to_string(), annotations);
            }
            offered.gateway_names.insert(wire, tool.name.to_string());
        }
        Ok(offered)
    }

    pub fn wire_name(&self, gateway_name: &str) -> Option<String> {
        self.gateway_names
            .iter()
            .find(|(_, g)| g.as_str() == gateway_name)
            .map(|(wire, _)| wire.clone())
    }

    /// Whether the tool says it may destroy data: `destructiveHint` true on a tool that is
    /// not read-only. Only an explicit hint counts (the spec's default of true for a tool
    /// without annotations would ask about every such tool); a tool rule with `confirm`
    /// covers the rest.
    pub fn destructive(&self, gateway_name: &str) -> bool {
        self.annotations
            .get(gateway_name)
            .is_some_and(|a| a.destructive_hint == Some(true) && a.read_only_hint != Some(true))
    }
}

/// `math.add` → `math__add`; other characters outside the wire's set become `_`; a name
/// too long or already taken gets a numbered suffix.
pub fn wire_name(gateway_name: &str, taken: &HashMap<String, String>) -> String {
    let base: String = gateway_name
        .replace('.', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if !taken.contains_key(&base) {
        return base;
    }
    (2..)
        .map(|n| {
            let suffix = format!("_{n}");
            let keep: String = base.chars().take(64 - suffix.len()).collect();
            keep + &suffix
        })
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or(base)
}

/// The value a tool's result stands for: its structured content when it has one, else its
/// text (one block: that text; several: joined by newlines), else the whole result.
pub fn result_value(result: &CallToolResult) -> Value {
    if let Some(structured) = &result.structured_content {
        return structured.clone();
    }
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if !texts.is_empty() && texts.len() == result.content.len() {
        return Value::String(texts.join("\n"));
    }
    serde_json::to_value(result).unwrap_or(Value::Null)
}

/// What the model reads of a tool's result: its text blocks (the form every MCP client
/// understands; structured content repeats them as JSON), else its structured content or
/// the whole result as JSON; at most [`MAX_TOOL_RESULT_CHARS`].
pub fn model_text(result: &CallToolResult) -> String {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    let text = if texts.is_empty() {
        match result_value(result) {
            Value::String(s) => s,
            other => other.to_string(),
        }
    } else {
        texts.join("\n")
    };
    text.chars().take(MAX_TOOL_RESULT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_names_become_wire_names_without_collisions() {
        let mut taken = HashMap::new();
        let a = wire_name("math.add", &taken);
        assert_eq!(a, "math__add");
        taken.insert(a, "math.add".into());
        assert_eq!(wire_name("math__add", &taken), "math__add_2");
        assert_eq!(wire_name("web.fetch url!", &taken), "web__fetch_url_");
        let long = wire_name(&format!("u.{}", "x".repeat(100)), &taken);
        assert_eq!(long.len(), 64);
    }
}
