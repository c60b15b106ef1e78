//! Checks a `map` node: the list it fans out over, what it does for each item (a `tool` or
//! `llm` node whose templates may read `item` and `index`), and how many at once.

use super::{Action, Check};
use crate::api::workflow::definition::{NodeKind, NodeSpec};
use crate::api::workflow::expr::Expr;

/// What a map item's expressions may read.
pub const MAP_VARS: &[&str] = &["state", "item", "index"];
/// The most items one map fans out over.
pub const MAX_MAP_ITEMS: usize = 10_000;
/// Items at once unless the node says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// A checked `map` node.
#[derive(Clone, Debug)]
pub struct MapAction {
    pub over: Expr,
    /// A tool or llm action, run once per item.
    pub each: Action,
    pub concurrency: u32,
    pub output: Option<String>,
}

impl Check<'_> {
    pub(super) fn map(&mut self, spec: &NodeSpec) -> Option<Action> {
        self.unused(
            spec,
            "map",
            &["over", "do", "concurrency", "output", "next"],
        );
        if let Some(output) = &spec.output {
            self.key("output", output);
        }
        let concurrency = spec.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if !(1..=64).contains(&concurrency) {
            self.problem("concurrency", "must be between 1 and 64");
        }
        let over = match &spec.over {
            Some(source) => self.expr("over", source),
            None => {
                self.problem("over", "a map node names the list it goes over (`over`)");
                None
            }
        };
        let Some(inner) = &spec.each else {
            self.problem("do", "a map node says what to do for each item (`do`)");
            return None;
        };
        // The item's node is checked as any node, but reading `item` and `index` too.
        let mut check = Check {
            field: format!("{}.do", self.field),
            definition: self.definition,
            problems: &mut *self.problems,
            vars: MAP_VARS,
        };
        let edges = [
            ("next", !inner.next.is_empty()),
            ("output", inner.output.is_some()),
            ("retry", inner.retry.is_some()),
            ("timeout_secs", inner.timeout_secs.is_some()),
            ("on_error", inner.on_error.is_some()),
            ("error_output", inner.error_output.is_some()),
        ];
        for (name, set) in edges {
            if set {
                check.problem(name, "set it on the map node, which takes it for all items");
            }
        }
        let each = match inner.kind {
            NodeKind::Tool => check.tool(inner),
            NodeKind::Llm => check.llm(inner),
            _ => {
                check.problem("kind", "a map's `do` is a tool or llm node");
                None
            }
        };
        Some(Action::Map(Box::new(MapAction {
            over: over?,
            each: each?,
            concurrency,
            output: spec.output.clone(),
        })))
    }
}
