//! Virtual servers: named bundles of tools (and prompts and resources) picked from any of a
//! tenant's upstreams, each served at its own MCP endpoint `/mcp/{tenant}/{name}`. A bundle
//! only narrows what its endpoint offers; what a caller may use is still the tool policies'.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FieldError, validate_identifier};

/// The most patterns in one of a virtual server's lists.
pub const MAX_PATTERNS: usize = 200;

/// Body of `POST /api/v1/tenants/{tenant_id}/virtual-servers` and `PUT …/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VirtualServerInput {
    /// The endpoint's last path segment: lowercase letters, digits, `-`, `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Tools by gateway name (`upstream.tool`) or glob (`github.*`, `*.search`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Prompts by gateway name or glob, as tools.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Resources and resource templates by `upstream.original-uri` or glob (`docs.*`).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Offer items under their upstream's own names (`search`, `test://x`) rather than the
    /// gateway's (`web.search`, `switchyard://web/test://x`). Items whose own names collide
    /// keep the gateway's names.
    #[serde(default)]
    pub bare_names: bool,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// A stored virtual server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VirtualServer {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    pub tools: Vec<String>,
    pub prompts: Vec<String>,
    pub resources: Vec<String>,
    pub bare_names: bool,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl VirtualServer {
    /// The same server as an input, for editing.
    pub fn to_input(&self) -> VirtualServerInput {
        VirtualServerInput {
            name: self.name.clone(),
            description: self.description.clone(),
            tools: self.tools.clone(),
            prompts: self.prompts.clone(),
            resources: self.resources.clone(),
            bare_names: self.bare_names,
            enabled: self.enabled,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VirtualServerList {
    pub items: Vec<VirtualServer>,
}

/// Why `pattern` cannot be a name pattern (a glob: `*` any run, `?` one character), if it
/// cannot: empty, over 200 characters, or with spaces or control characters.
pub fn pattern_problem(pattern: &str) -> Option<&'static str> {
    if pattern.is_empty() {
        Some("a pattern may not be empty")
    } else if pattern.chars().count() > 200 {
        Some("a pattern is at most 200 characters")
    } else if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("a pattern has no spaces or control characters")
    } else {
        None
    }
}

/// Every problem with a list of patterns named `field`: too many, or one that is not a
/// pattern.
pub fn pattern_list_problems(field: &str, patterns: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if patterns.len() > MAX_PATTERNS {
        errors.push(FieldError::new(field, "at most 200 patterns"));
    }
    for pattern in patterns {
        if let Some(problem) = pattern_problem(pattern) {
            errors.push(FieldError::new(field, format!("`{pattern}`: {problem}")));
        }
    }
    errors
}

/// Whether glob `pattern` matches `text`: `*` any run of characters (dots included), `?` one.
/// Iterative, with one backtrack point: linear in practice, never exponential whatever the
/// pattern. The server's tool policies and the console's previews share it.
pub fn glob_matches(pattern: &[char], text: &[char]) -> bool {
    let (p, t) = (pattern, text);
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether any of `patterns` matches `name` (for previews; the server compiles its own).
pub fn any_matches(patterns: &[String], name: &str) -> bool {
    let text: Vec<char> = name.chars().collect();
    patterns.iter().any(|p| {
        let pattern: Vec<char> = p.chars().collect();
        glob_matches(&pattern, &text)
    })
}

impl VirtualServerInput {
    /// Every problem with the input, each naming its field.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = Vec::new();
        errors.extend(validate_identifier("name", &self.name).err());
        if self.description.chars().count() > 1000 {
            errors.push(FieldError::new(
                "description",
                "must be at most 1000 characters long",
            ));
        }
        let lists = [
            ("tools", &self.tools),
            ("prompts", &self.prompts),
            ("resources", &self.resources),
        ];
        for (field, patterns) in lists {
            errors.extend(pattern_list_problems(field, patterns));
        }
        if self.tools.is_empty() && self.prompts.is_empty() && self.resources.is_empty() {
            errors.push(FieldError::new(
                "tools",
                "select at least one tool, prompt or resource",
            ));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> VirtualServerInput {
        VirtualServerInput {
            name: "research".into(),
            tools: vec!["web.*".into(), "files.read".into()],
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_sound_input_has_no_problems() {
        assert!(input().problems().is_empty());
    }

    #[test]
    fn each_problem_names_its_field() {
        let bad = VirtualServerInput {
            name: "Bad Name".into(),
            tools: vec![String::new(), "a b".into()],
            ..input()
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name", "tools", "tools"]);
        let empty = VirtualServerInput {
            tools: vec![],
            ..input()
        };
        assert_eq!(empty.problems()[0].field, "tools");
    }
}
