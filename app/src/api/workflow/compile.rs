//! Checks a [`Definition`] and turns it into the [`Graph`] a run executes. The server runs
//! this before storing a version and before starting a run; the console runs it as the
//! definition is typed, so the errors it shows inline are the server's own.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use super::definition::{
    Definition, FailureKind, FormField, KeyType, NodeKind, NodeSpec, RetrySpec,
};
use super::expr::Expr;
use super::state::Template;
use crate::api::FieldError;

mod keys;
mod llm;
mod map;
mod subgraph;

pub use llm::{DEFAULT_MAX_ROUNDS, LlmAction, Messages, ToolChoiceSpec};
pub use map::{DEFAULT_CONCURRENCY, MAP_VARS, MAX_MAP_ITEMS, MapAction};
pub use subgraph::{MAX_DEPTH, SubgraphAction};

/// The most nodes in one workflow.
pub const MAX_NODES: usize = 500;
/// Steps a run may take unless its definition says otherwise.
pub const DEFAULT_MAX_STEPS: u32 = 1_000;
/// How long a tool node's attempt may take unless it says otherwise.
pub const DEFAULT_TOOL_TIMEOUT_SECS: u64 = 60;

/// A checked workflow, ready to run.
#[derive(Clone, Debug)]
pub struct Graph {
    pub keys: BTreeMap<String, Key>,
    pub start: String,
    pub nodes: BTreeMap<String, GraphNode>,
    pub max_steps: u32,
    pub deadline_secs: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Key {
    pub kind: KeyType,
    pub reducer: Reducer,
    pub default: Value,
}

#[derive(Clone, Debug)]
pub enum Reducer {
    Replace,
    Append,
    Merge,
    Sum,
    /// An expression over `current` and `update`.
    Custom(Expr),
}

#[derive(Clone, Debug)]
pub struct GraphNode {
    pub action: Action,
    pub next: Vec<String>,
    pub retry: Option<RetrySpec>,
    pub timeout_secs: Option<u64>,
    pub on_error: Option<String>,
    pub error_output: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Action {
    Transform(Vec<(String, Expr)>),
    Condition {
        routes: Vec<(Expr, String)>,
        otherwise: Option<String>,
    },
    Tool {
        tool: String,
        arguments: Template,
        output: Option<String>,
    },
    Approval {
        prompt: Template,
        form: Vec<FormField>,
        output: Option<String>,
        rejected: Option<String>,
    },
    Llm(Box<LlmAction>),
    Map(Box<MapAction>),
    Subgraph(Box<SubgraphAction>),
}

/// What expressions in nodes and templates may read.
pub const NODE_VARS: &[&str] = &["state"];
/// What a custom reducer may read.
pub const REDUCER_VARS: &[&str] = &["current", "update"];

/// Checks `definition`; every problem found, each naming its field, or the graph.
pub fn compile(definition: &Definition) -> Result<Graph, Vec<FieldError>> {
    let mut problems = Vec::new();
    let keys = keys::compile_keys(definition, &mut problems);
    if definition.nodes.is_empty() {
        problems.push(FieldError::new(
            "nodes",
            "a workflow needs at least one node",
        ));
    }
    if definition.nodes.len() > MAX_NODES {
        problems.push(FieldError::new(
            "nodes",
            format!("a workflow has at most {MAX_NODES} nodes"),
        ));
    }
    if !definition.nodes.contains_key(&definition.start) {
        problems.push(FieldError::new(
            "start",
            format!("there is no node `{}`", definition.start),
        ));
    }
    let max_steps = definition.max_steps.unwrap_or(DEFAULT_MAX_STEPS);
    if !(1..=1_000_000).contains(&max_steps) {
        problems.push(FieldError::new(
            "max_steps",
            "must be between 1 and 1,000,000",
        ));
    }
    if definition.deadline_secs == Some(0) {
        problems.push(FieldError::new("deadline_secs", "must be at least 1"));
    }
    let mut nodes = BTreeMap::new();
    for (name, spec) in &definition.nodes {
        let mut check = Check {
            field: format!("nodes.{name}"),
            definition,
            problems: &mut problems,
            vars: NODE_VARS,
        };
        if !valid_name(name) {
            check.problem("", "a node name is 1 to 63 of a-z, 0-9, `_` and `-`");
        }
        if let Some(node) = check.node(spec) {
            nodes.insert(name.clone(), node);
        }
    }
    if problems.is_empty() {
        unreachable_nodes(definition, &nodes, &mut problems);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Graph {
        keys,
        start: definition.start.clone(),
        nodes,
        max_steps,
        deadline_secs: definition.deadline_secs,
    })
}

fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

struct Check<'a> {
    field: String,
    definition: &'a Definition,
    problems: &'a mut Vec<FieldError>,
    /// What the node's expressions may read.
    vars: &'static [&'static str],
}

impl Check<'_> {
    fn problem(&mut self, sub: &str, message: impl Into<String>) {
        let field = if sub.is_empty() {
            self.field.clone()
        } else {
            format!("{}.{sub}", self.field)
        };
        self.problems.push(FieldError::new(&field, message));
    }

    /// `target` names a node.
    fn target(&mut self, sub: &str, target: &str) {
        if !self.definition.nodes.contains_key(target) {
            self.problem(sub, format!("there is no node `{target}`"));
        }
    }

    /// `key` is a declared state key.
    fn key(&mut self, sub: &str, key: &str) {
        if !self.definition.state.contains_key(key) {
            self.problem(
                sub,
                format!("the state has no key `{key}`; declare it under `state`"),
            );
        }
    }

    fn expr(&mut self, sub: &str, source: &str) -> Option<Expr> {
        match Expr::parse(source, self.vars) {
            Ok(expr) => {
                for member in expr.members_of("state") {
                    self.key(sub, &member);
                }
                Some(expr)
            }
            Err(e) => {
                self.problem(sub, e.to_string());
                None
            }
        }
    }

    fn template(&mut self, sub: &str, value: &Value) -> Option<Template> {
        match Template::parse_with(value, self.vars) {
            Ok(template) => {
                for member in template.members_of("state") {
                    self.key(sub, &member);
                }
                Some(template)
            }
            Err((at, e)) => {
                let at = if at.is_empty() {
                    sub.to_owned()
                } else {
                    format!("{sub}.{at}")
                };
                self.problem(&at, e.to_string());
                None
            }
        }
    }

    /// Fields that `kind` does not take, by name, when they are set.
    fn unused(&mut self, spec: &NodeSpec, kind: &str, allowed: &[&str]) {
        let present = [
            ("set", !spec.set.is_empty()),
            ("routes", !spec.routes.is_empty()),
            ("otherwise", spec.otherwise.is_some()),
            ("tool", spec.tool.is_some()),
            ("arguments", spec.arguments.is_some()),
            ("output", spec.output.is_some()),
            ("prompt", spec.prompt.is_some()),
            ("form", !spec.form.is_empty()),
            ("rejected", spec.rejected.is_some()),
            ("provider", spec.provider.is_some()),
            ("model", spec.model.is_some()),
            ("system", spec.system.is_some()),
            ("messages", spec.messages.is_some()),
            ("tools", !spec.tools.is_empty()),
            ("tool_choice", spec.tool_choice.is_some()),
            ("max_rounds", spec.max_rounds.is_some()),
            ("temperature", spec.temperature.is_some()),
            ("max_tokens", spec.max_tokens.is_some()),
            ("workflow", spec.workflow.is_some()),
            ("input", spec.input.is_some()),
            ("over", spec.over.is_some()),
            ("do", spec.each.is_some()),
            ("concurrency", spec.concurrency.is_some()),
            ("next", !spec.next.is_empty()),
        ];
        for (name, set) in present {
            if set && !allowed.contains(&name) {
                // "an llm", "an approval": the article goes by the sound.
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u', 'l']) {
                    "an"
                } else {
                    "a"
                };
                self.problem(name, format!("{article} {kind} node takes no `{name}`"));
            }
        }
    }

    fn node(&mut self, spec: &NodeSpec) -> Option<GraphNode> {
        let action = match spec.kind {
            NodeKind::Transform => self.transform(spec),
            NodeKind::Condition => self.condition(spec),
            NodeKind::Tool => self.tool(spec),
            NodeKind::Approval => self.approval(spec),
            NodeKind::Llm => self.llm(spec),
            NodeKind::Map => self.map(spec),
            NodeKind::Subgraph => self.subgraph(spec),
        };
        for (i, next) in spec.next.iter().enumerate() {
            self.target(&format!("next[{i}]"), next);
        }
        if let Some(on_error) = &spec.on_error {
            self.target("on_error", on_error);
        }
        if let Some(key) = &spec.error_output {
            self.key("error_output", key);
        }
        if let Some(retry) = &spec.retry {
            if !(2..=10).contains(&retry.attempts) {
                self.problem("retry.attempts", "must be between 2 and 10");
            }
            if retry.backoff_ms > retry.max_backoff_ms || retry.max_backoff_ms > 600_000 {
                self.problem("retry", "backoff_ms ≤ max_backoff_ms ≤ 600000");
            }
            if retry.on.contains(&FailureKind::Refused)
                || retry.on.contains(&FailureKind::Expression)
            {
                self.problem(
                    "retry.on",
                    "refusals and expression errors are never retried",
                );
            }
        }
        if spec
            .timeout_secs
            .is_some_and(|t| !(1..=86_400).contains(&t))
        {
            self.problem("timeout_secs", "must be between 1 and 86400");
        }
        let timeout_secs = spec.timeout_secs.or(match spec.kind {
            NodeKind::Tool => Some(DEFAULT_TOOL_TIMEOUT_SECS),
            _ => None,
        });
        Some(GraphNode {
            action: action?,
            next: spec.next.clone(),
            retry: spec.retry.clone(),
            timeout_secs,
            on_error: spec.on_error.clone(),
            error_output: spec.error_output.clone(),
        })
    }

    fn transform(&mut self, spec: &NodeSpec) -> Option<Action> {
        self.unused(spec, "transform", &["set", "next"]);
        if spec.set.is_empty() {
            self.problem("set", "a transform node sets at least one key");
        }
        let mut sets = Vec::new();
        for (key, source) in &spec.set {
            self.key(&format!("set.{key}"), key);
            sets.push((key.clone(), self.expr(&format!("set.{key}"), source)?));
        }
        Some(Action::Transform(sets))
    }

    fn condition(&mut self, spec: &NodeSpec) -> Option<Action> {
        self.unused(spec, "condition", &["routes", "otherwise"]);
        if spec.routes.is_empty() {
            self.problem("routes", "a condition node has at least one route");
        }
        let mut routes = Vec::new();
        for (i, route) in spec.routes.iter().enumerate() {
            self.target(&format!("routes[{i}].to"), &route.to);
            routes.push((
                self.expr(&format!("routes[{i}].when"), &route.when)?,
                route.to.clone(),
            ));
        }
        if let Some(otherwise) = &spec.otherwise {
            self.target("otherwise", otherwise);
        }
        Some(Action::Condition {
            routes,
            otherwise: spec.otherwise.clone(),
        })
    }

    fn tool(&mut self, spec: &NodeSpec) -> Option<Action> {
        self.unused(spec, "tool", &["tool", "arguments", "output", "next"]);
        let Some(tool) = &spec.tool else {
            self.problem("tool", "a tool node names its tool (`upstream.tool`)");
            return None;
        };
        if !tool.contains('.') || tool.len() > 256 {
            self.problem("tool", "a tool's gateway name is `upstream.tool`");
        }
        if let Some(output) = &spec.output {
            self.key("output", output);
        }
        let arguments = spec
            .arguments
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if !arguments.is_object() {
            self.problem("arguments", "a tool's arguments are an object");
        }
        Some(Action::Tool {
            tool: tool.clone(),
            arguments: self.template("arguments", &arguments)?,
            output: spec.output.clone(),
        })
    }

    fn approval(&mut self, spec: &NodeSpec) -> Option<Action> {
        self.unused(
            spec,
            "approval",
            &["prompt", "form", "output", "rejected", "next"],
        );
        if let Some(output) = &spec.output {
            self.key("output", output);
        }
        if let Some(rejected) = &spec.rejected {
            self.target("rejected", rejected);
        }
        let mut names = BTreeSet::new();
        for (i, field) in spec.form.iter().enumerate() {
            if !names.insert(field.name.as_str()) || field.name.is_empty() {
                self.problem(
                    &format!("form[{i}].name"),
                    "form fields have distinct, non-empty names",
                );
            }
        }
        let prompt = Value::String(spec.prompt.clone().unwrap_or_default());
        Some(Action::Approval {
            prompt: self.template("prompt", &prompt)?,
            form: spec.form.clone(),
            output: spec.output.clone(),
            rejected: spec.rejected.clone(),
        })
    }
}

/// Nodes no edge leads to from `start`: almost always a misspelt edge.
fn unreachable_nodes(
    definition: &Definition,
    nodes: &BTreeMap<String, GraphNode>,
    problems: &mut Vec<FieldError>,
) {
    let mut seen = BTreeSet::from([definition.start.as_str()]);
    let mut queue = VecDeque::from([definition.start.as_str()]);
    while let Some(name) = queue.pop_front() {
        for next in nodes.get(name).map(GraphNode::targets).unwrap_or_default() {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    for name in nodes.keys() {
        if !seen.contains(name.as_str()) {
            problems.push(FieldError::new(
                &format!("nodes.{name}"),
                "no edge leads here from `start`",
            ));
        }
    }
}

impl GraphNode {
    /// Every node this one may lead to.
    pub fn targets(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.next.iter().map(String::as_str).collect();
        match &self.action {
            Action::Condition { routes, otherwise } => {
                all.extend(routes.iter().map(|(_, to)| to.as_str()));
                all.extend(otherwise.as_deref());
            }
            Action::Approval { rejected, .. } => all.extend(rejected.as_deref()),
            _ => {}
        }
        all.extend(self.on_error.as_deref());
        all
    }
}
