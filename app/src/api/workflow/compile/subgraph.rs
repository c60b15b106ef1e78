//! Checks a `subgraph` node: the workflow it runs and the input it gives it. Whether that
//! workflow exists is known only when the node runs: workflows are saved one at a time.

use serde_json::Value;

use super::{Action, Check};
use crate::api::validate_identifier;
use crate::api::workflow::definition::NodeSpec;
use crate::api::workflow::state::Template;

/// How deep subgraphs nest: a workflow that runs itself stops here.
pub const MAX_DEPTH: i32 = 8;

/// A checked `subgraph` node.
#[derive(Clone, Debug)]
pub struct SubgraphAction {
    pub workflow: String,
    pub input: Template,
    pub output: Option<String>,
}

impl Check<'_> {
    pub(super) fn subgraph(&mut self, spec: &NodeSpec) -> Option<Action> {
        self.unused(spec, "subgraph", &["workflow", "input", "output", "next"]);
        if let Some(output) = &spec.output {
            self.key("output", output);
        }
        let Some(workflow) = &spec.workflow else {
            self.problem("workflow", "a subgraph node names the workflow it runs");
            return None;
        };
        if let Err(e) = validate_identifier("workflow", workflow) {
            self.problem("workflow", e.message);
        }
        let input = spec
            .input
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if !input.is_object() {
            self.problem("input", "a subgraph's input is an object");
        }
        Some(Action::Subgraph(Box::new(SubgraphAction {
            workflow: workflow.clone(),
            input: self.template("input", &input)?,
            output: spec.output.clone(),
        })))
    }
}
