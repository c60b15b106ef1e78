//! Checks an `llm` node: its prompt or messages, the tools it offers the model, and the
//! bounds of its agent loop.

use serde_json::Value;

use super::{Action, Check};
use crate::api::workflow::definition::NodeSpec;
use crate::api::workflow::state::Template;
use crate::api::{any_matches, pattern_problem};

/// Completions in one node's agent loop unless it says otherwise.
pub const DEFAULT_MAX_ROUNDS: u32 = 5;

/// A checked `llm` node.
#[derive(Clone, Debug)]
pub struct LlmAction {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub system: Option<Template>,
    /// The user's message, or the whole conversation (an array of `{role, content}`).
    pub messages: Messages,
    /// Gateway names or globs of the tools offered.
    pub tools: Vec<String>,
    pub tool_choice: ToolChoiceSpec,
    pub max_rounds: u32,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub output: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Messages {
    Prompt(Template),
    Conversation(Template),
}

/// What the first completion must do about tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoiceSpec {
    Auto,
    None,
    /// This tool (a gateway name among `tools`).
    Tool(String),
}

impl Check<'_> {
    pub(super) fn llm(&mut self, spec: &NodeSpec) -> Option<Action> {
        self.unused(
            spec,
            "llm",
            &[
                "provider",
                "model",
                "system",
                "prompt",
                "messages",
                "tools",
                "tool_choice",
                "max_rounds",
                "temperature",
                "max_tokens",
                "output",
                "next",
            ],
        );
        if let Some(output) = &spec.output {
            self.key("output", output);
        }
        let text = |s: &Option<String>| s.clone().map(Value::String);
        let messages = match (text(&spec.prompt), &spec.messages) {
            (Some(prompt), None) => Messages::Prompt(self.template("prompt", &prompt)?),
            (None, Some(messages)) => {
                if !messages.is_array() && !messages.is_string() {
                    self.problem(
                        "messages",
                        "an array of {role, content}, or a template giving one",
                    );
                }
                Messages::Conversation(self.template("messages", messages)?)
            }
            (Some(_), Some(_)) => {
                self.problem("messages", "give `prompt` or `messages`, not both");
                return None;
            }
            (None, None) => {
                self.problem("prompt", "an llm node needs a `prompt` or `messages`");
                return None;
            }
        };
        let system = match text(&spec.system) {
            Some(system) => Some(self.template("system", &system)?),
            None => None,
        };
        for (i, pattern) in spec.tools.iter().enumerate() {
            if let Some(problem) = pattern_problem(pattern) {
                self.problem(&format!("tools[{i}]"), problem);
            }
        }
        let tool_choice = match spec.tool_choice.as_deref() {
            None | Some("auto") => ToolChoiceSpec::Auto,
            Some("none") => ToolChoiceSpec::None,
            Some(tool) => {
                if !any_matches(&spec.tools, tool) {
                    self.problem(
                        "tool_choice",
                        format!(
                            "`auto`, `none`, or one of the node's tools; `{tool}` is none of them"
                        ),
                    );
                }
                ToolChoiceSpec::Tool(tool.to_owned())
            }
        };
        let max_rounds = spec.max_rounds.unwrap_or(DEFAULT_MAX_ROUNDS);
        if !(1..=20).contains(&max_rounds) {
            self.problem("max_rounds", "must be between 1 and 20");
        }
        if spec.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            self.problem("temperature", "must be between 0 and 2");
        }
        if spec.max_tokens.is_some_and(|t| !(1..=100_000).contains(&t)) {
            self.problem("max_tokens", "must be between 1 and 100000");
        }
        for (field, value) in [("provider", &spec.provider), ("model", &spec.model)] {
            if value
                .as_deref()
                .is_some_and(|v| !(1..=200).contains(&v.len()) || v.contains(char::is_whitespace))
            {
                self.problem(field, "1 to 200 characters, no spaces");
            }
        }
        Some(Action::Llm(Box::new(LlmAction {
            provider: spec.provider.clone(),
            model: spec.model.clone(),
            system,
            messages,
            tools: spec.tools.clone(),
            tool_choice,
            max_rounds,
            temperature: spec.temperature,
            max_tokens: spec.max_tokens,
            output: spec.output.clone(),
        })))
    }
}
