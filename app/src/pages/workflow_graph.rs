//! A workflow's nodes and edges drawn as SVG: nodes in columns by their distance from
//! `start`, edges as lines (dashed for condition routes, error edges and rejections).
//! Highlighted nodes are those of a run's current step.

use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;

use crate::api::workflow::Definition;
use crate::api::workflow::definition::NodeKind;

const COLUMN: f64 = 170.0;
const ROW: f64 = 64.0;
const WIDTH: f64 = 130.0;
const HEIGHT: f64 = 36.0;

/// An edge and whether it is taken only sometimes.
fn edges(definition: &Definition) -> Vec<(String, String, bool)> {
    let mut all = Vec::new();
    for (name, node) in &definition.nodes {
        for next in &node.next {
            all.push((name.clone(), next.clone(), false));
        }
        let sometimes = node
            .routes
            .iter()
            .map(|r| &r.to)
            .chain(&node.otherwise)
            .chain(&node.rejected)
            .chain(&node.on_error);
        for to in sometimes {
            all.push((name.clone(), to.clone(), true));
        }
    }
    all.retain(|(_, to, _)| definition.nodes.contains_key(to));
    all
}

/// Each node's column (breadth-first distance from `start`; unreachable nodes last) and row.
fn layout(definition: &Definition) -> BTreeMap<String, (usize, usize)> {
    let edges = edges(definition);
    let mut column: BTreeMap<&str, usize> = BTreeMap::new();
    let mut queue = VecDeque::new();
    if definition.nodes.contains_key(&definition.start) {
        column.insert(&definition.start, 0);
        queue.push_back(definition.start.as_str());
    }
    while let Some(name) = queue.pop_front() {
        let at = column[name];
        for (_, to, _) in edges.iter().filter(|(from, _, _)| from == name) {
            if !column.contains_key(to.as_str()) {
                column.insert(to, at + 1);
                queue.push_back(to);
            }
        }
    }
    let last = column.values().max().map_or(0, |c| c + 1);
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    let mut placed = BTreeMap::new();
    for name in definition.nodes.keys() {
        let col = column.get(name.as_str()).copied().unwrap_or(last);
        let row = rows.entry(col).or_default();
        placed.insert(name.clone(), (col, *row));
        *row += 1;
    }
    placed
}

fn kind_label(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Transform => "transform",
        NodeKind::Condition => "condition",
        NodeKind::Tool => "tool",
        NodeKind::Approval => "approval",
        NodeKind::Llm => "llm",
        NodeKind::Map => "map",
        NodeKind::Subgraph => "subgraph",
    }
}

#[component]
pub fn GraphView(
    definition: Definition,
    /// Nodes to highlight (a run's next step).
    #[prop(into, optional)]
    active: Signal<Vec<String>>,
) -> impl IntoView {
    let placed = layout(&definition);
    let centre = |name: &str| {
        let (c, r) = placed.get(name).copied().unwrap_or_default();
        (20.0 + c as f64 * COLUMN, 20.0 + r as f64 * ROW)
    };
    let width = placed.values().map(|(c, _)| *c).max().unwrap_or(0) as f64 * COLUMN + WIDTH + 40.0;
    let height = placed.values().map(|(_, r)| *r).max().unwrap_or(0) as f64 * ROW + HEIGHT + 56.0;
    let lines = edges(&definition)
        .into_iter()
        .map(|(from, to, sometimes)| {
            let ((fx, fy), (tx, ty)) = (centre(&from), centre(&to));
            // Forward edges run right to left edges; an edge back (a loop) leaves from the
            // node's bottom and curves below into the target's bottom.
            let d = if tx > fx {
                format!("M {} {} L {} {}", fx + WIDTH, fy + HEIGHT / 2.0, tx, ty + HEIGHT / 2.0)
            } else {
                let (x1, x2, y) = (fx + WIDTH / 2.0, tx + WIDTH / 2.0, fy.max(ty) + HEIGHT);
                let bend = y + 26.0;
                format!("M {x1} {} C {x1} {bend}, {x2} {bend}, {x2} {y}", fy + HEIGHT)
            };
            let dash = if sometimes { "5 4" } else { "" };
            view! {
                <path d=d fill="none" stroke-dasharray=dash class="graph-edge" marker-end="url(#arrow)">
                    <title>{format!("{from} → {to}")}</title>
                </path>
            }
        })
        .collect_view();
    let boxes = definition
        .nodes
        .iter()
        .map(|(name, node)| {
            let (x, y) = centre(name);
            let (label, tag, kind) = (name.clone(), name.clone(), kind_label(node.kind));
            let key = name.clone();
            let class = move || {
                if active.get().contains(&key) {
                    "graph-node active"
                } else {
                    "graph-node"
                }
            };
            view! {
                <g class=class data-node=tag>
                    <rect x=x y=y width=WIDTH height=HEIGHT rx="6"/>
                    <text x=x + 8.0 y=y + 15.0 class="graph-name">{label}</text>
                    <text x=x + 8.0 y=y + 29.0 class="graph-kind">{kind}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="graph" role="img" aria-label="Workflow graph" width=width height=height
            viewBox=format!("0 0 {width} {height}")>
            <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                    <path d="M 0 0 L 10 5 L 0 10 z"/>
                </marker>
            </defs>
            {lines}
            {boxes}
        </svg>
    }
}
