//! What an endpoint offers before any policy is weighed: each upstream's tool filter, and a
//! virtual server's selection and naming. Both only narrow; neither grants anything.

use app::api::{ToolFilter, VirtualServer};

use crate::access::Glob;

/// Patterns are checked on write with the same rules (`app::api::pattern_problem`).
fn compile(patterns: &[String]) -> Result<Vec<Glob>, String> {
    patterns.iter().map(|p| Glob::new(p)).collect()
}

/// An upstream's tool filter, compiled.
#[derive(Default)]
pub struct Filter {
    include: Vec<Glob>,
    exclude: Vec<Glob>,
}

impl Filter {
    /// `None` for a stored filter this version cannot compile (inputs are checked on write).
    pub fn compile(filter: &ToolFilter) -> Option<Self> {
        Some(Self {
            include: compile(&filter.include).ok()?,
            exclude: compile(&filter.exclude).ok()?,
        })
    }

    /// Whether the upstream's tool `name` (its own name) is offered.
    pub fn offers(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        let any = |globs: &[Glob]| globs.iter().any(|g| g.matches_chars(&chars));
        (self.include.is_empty() || any(&self.include)) && !any(&self.exclude)
    }
}

/// A virtual server with its patterns compiled.
pub struct View {
    pub server: VirtualServer,
    tools: Vec<Glob>,
    prompts: Vec<Glob>,
    resources: Vec<Glob>,
}

/// The kinds of governed item, as views select them and the audit trail and errors name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Tool,
    Prompt,
    /// Resources and resource templates, selected and decided by `upstream.original-uri`.
    Resource,
}

impl Item {
    pub fn noun(self) -> &'static str {
        match self {
            Item::Tool => "tool",
            Item::Resource => "resource",
            Item::Prompt => "prompt",
        }
    }

    /// The audit action of using one.
    pub fn action(self) -> &'static str {
        match self {
            Item::Tool => "tool.call",
            Item::Resource => "resource.read",
            Item::Prompt => "prompt.get",
        }
    }
}

impl View {
    pub fn compile(server: VirtualServer) -> Option<Self> {
        Some(Self {
            tools: compile(&server.tools).ok()?,
            prompts: compile(&server.prompts).ok()?,
            resources: compile(&server.resources).ok()?,
            server,
        })
    }

    /// Whether the item with gateway name `qualified` (`upstream.name`, resources
    /// `upstream.original-uri`) is in this server's selection.
    pub fn selects(&self, item: Item, qualified: &str) -> bool {
        let globs = match item {
            Item::Tool => &self.tools,
            Item::Prompt => &self.prompts,
            Item::Resource => &self.resources,
        };
        let chars: Vec<char> = qualified.chars().collect();
        globs.iter().any(|g| g.matches_chars(&chars))
    }
}

/// Whether a concrete URI could come from an RFC 6570 template: the literal parts in order,
/// each `{…}` expression standing for one or more characters. Enough to find which upstream
/// a bare URI read through a virtual server belongs to.
pub fn template_matches(template: &str, uri: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        literals.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return false,
        }
    }
    literals.push(rest);
    let Some((first, others)) = literals.split_first() else {
        return false;
    };
    let Some(mut remaining) = uri.strip_prefix(first) else {
        return false;
    };
    let last = others.len().saturating_sub(1);
    for (i, literal) in others.iter().enumerate() {
        if i == last {
            // The last literal ends the URI, after at least one character of expression.
            return remaining.len() > literal.len() && remaining.ends_with(literal);
        }
        // An expression takes at least one character, then the next literal.
        let Some(at) = remaining.get(1..).and_then(|r| r.find(literal)) else {
            return false;
        };
        remaining = &remaining[1 + at + literal.len()..];
    }
    // No expression at all: the template is a plain URI.
    remaining.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_includes_then_excludes() {
        let filter = |include: &[&str], exclude: &[&str]| {
            Filter::compile(&ToolFilter {
                include: include.iter().map(|s| s.to_string()).collect(),
                exclude: exclude.iter().map(|s| s.to_string()).collect(),
            })
            .unwrap()
        };
        assert!(filter(&[], &[]).offers("anything"));
        let f = filter(&["get_*", "echo"], &["get_secret*"]);
        assert!(f.offers("get_user") && f.offers("echo"));
        assert!(!f.offers("delete_user") && !f.offers("get_secret_key"));
    }

    #[test]
    fn templates_match_the_uris_they_expand_to() {
        assert!(template_matches(
            "test://template/{id}/data",
            "test://template/123/data"
        ));
        assert!(template_matches("file:///{path}", "file:///etc/hosts"));
        assert!(template_matches("a://{x}-{y}", "a://1-2"));
        assert!(template_matches("test://static", "test://static"));
        assert!(!template_matches("test://static", "test://static/x"));
        assert!(!template_matches(
            "test://template/{id}/data",
            "test://template//data"
        ));
        assert!(!template_matches(
            "test://template/{id}/data",
            "test://other/1/data"
        ));
        assert!(!template_matches("a://{x}-{y}", "a://1-"));
        assert!(!template_matches("broken://{x", "broken://1"));
    }
}
