//! Tool policies and [`decide`], the one place a tool-call decision is made.
//!
//! A rule allows or denies the tools whose namespaced name (`upstream.tool`) matches its glob,
//! for one role or for everyone, optionally only when conditions on the call's arguments hold.
//! Deny wins: any applicable deny rule refuses the call; otherwise the highest-priority
//! applicable allow rule permits it; with no applicable rule the call is refused. The caller
//! must also hold `tools:call`. Every decision names the rule that made it, for the audit
//! record and the explain view.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Permission, PermissionSet};

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// A constraint on one argument, addressed by a JSON Pointer (RFC 6901) into the arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A string argument, normalised as a path (`.` and `..` resolved), starts with `value`.
    Prefix { path: String, value: String },
    /// A number argument is at most `value`.
    Max { path: String, value: f64 },
    /// A number argument is at least `value`.
    Min { path: String, value: f64 },
    /// The argument equals `value`.
    Equals { path: String, value: Value },
    /// The argument equals one of `values`.
    OneOf { path: String, values: Vec<Value> },
}

impl Condition {
    pub fn path(&self) -> &str {
        match self {
            Condition::Prefix { path, .. }
            | Condition::Max { path, .. }
            | Condition::Min { path, .. }
            | Condition::Equals { path, .. }
            | Condition::OneOf { path, .. } => path,
        }
    }

    /// Whether the condition holds for `arguments`; an absent argument never satisfies one.
    pub fn holds(&self, arguments: &Value) -> bool {
        let Some(found) = arguments.pointer(self.path()) else {
            return false;
        };
        match self {
            Condition::Prefix { value, .. } => found
                .as_str()
                .and_then(normalise_path)
                .is_some_and(|p| p.starts_with(value.as_str())),
            Condition::Max { value, .. } => found.as_f64().is_some_and(|n| n <= *value),
            Condition::Min { value, .. } => found.as_f64().is_some_and(|n| n >= *value),
            Condition::Equals { value, .. } => found == value,
            Condition::OneOf { values, .. } => values.contains(found),
        }
    }

    /// A check of the condition's own shape, for precise 422s.
    pub fn validate(&self) -> Result<(), String> {
        let path = self.path();
        if !(path.is_empty() || path.starts_with('/')) {
            return Err(format!(
                "condition path `{path}` must be a JSON Pointer such as `/path`"
            ));
        }
        if let Condition::Max { value, .. } | Condition::Min { value, .. } = self
            && !value.is_finite()
        {
            return Err("condition value must be a finite number".into());
        }
        Ok(())
    }
}

/// Resolves `.` and `..` lexically, so `/data/../etc` cannot pass as under `/data/`. A path
/// that climbs above its root has no normal form and satisfies no prefix.
fn normalise_path(raw: &str) -> Option<String> {
    let absolute = raw.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    let mut out = if absolute {
        "/".to_string()
    } else {
        String::new()
    };
    out.push_str(&parts.join("/"));
    if raw.ends_with('/') && !parts.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// A glob over tool names: `*` matches any run of characters (dots included), `?` one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() || pattern.chars().count() > 200 {
            return Err("tool pattern must be 1–200 characters".into());
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("tool pattern must not contain spaces or control characters".into());
        }
        Ok(Self {
            pattern: pattern.chars().collect(),
        })
    }

    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        self.matches_chars(&text)
    }

    /// Takes the text as chars so a decision over many rules converts the tool name once.
    pub fn matches_chars(&self, t: &[char]) -> bool {
        app::api::glob_matches(&self.pattern, t)
    }
}

/// One tool rule, ready to evaluate.
#[derive(Clone, Debug)]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    pub effect: Effect,
    pub pattern: Glob,
    /// The role it applies to; `None`: every principal of the tenant.
    pub role: Option<String>,
    pub conditions: Vec<Condition>,
    /// Among applicable allow rules the highest priority decides (then the name).
    pub priority: i32,
    /// An allow rule that allows only once the user confirms the call.
    pub confirm: bool,
}

/// Who is calling, as far as policy cares.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub roles: &'a [String],
    pub permissions: PermissionSet,
}

/// Why a rule did or did not apply to a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applies {
    Yes,
    PatternDiffers,
    RoleDiffers,
    /// The condition at this index does not hold.
    ConditionFails(usize),
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// Allowed only once the user confirms the call (the deciding rule says so).
    pub confirm: bool,
    /// The rule that decided; `None` for the missing permission or no applicable rule.
    pub rule: Option<(Uuid, String)>,
    /// The decision in words, for the audit record and the tester.
    pub reason: String,
}

impl Decision {
    /// The rule name as audit records carry it (`permission:tools:call` and `default-deny`
    /// when no rule decided).
    pub fn rule_label(&self) -> String {
        match &self.rule {
            Some((_, name)) => name.clone(),
            None if self.reason.contains("tools:call") => "permission:tools:call".into(),
            None => "default-deny".into(),
        }
    }
}

fn applies(rule: &Rule, subject: &Subject<'_>, tool: &[char], arguments: &Value) -> Applies {
    if let Some(role) = &rule.role
        && !subject.roles.iter().any(|r| r == role)
    {
        return Applies::RoleDiffers;
    }
    if !rule.pattern.matches_chars(tool) {
        return Applies::PatternDiffers;
    }
    match rule.conditions.iter().position(|c| !c.holds(arguments)) {
        Some(i) => Applies::ConditionFails(i),
        None => Applies::Yes,
    }
}

/// Whether `tool` belongs in the subject's tool list: it may call tools, an allow rule
/// could apply to it (argument conditions aside: they are checked on the call), and no deny
/// rule applies to it whatever the arguments. A tool not listed is answered on call as an
/// unknown tool.
pub fn visible(rules: &[Rule], subject: &Subject<'_>, tool: &str) -> bool {
    if !subject.permissions.contains(Permission::ToolsCall) {
        return false;
    }
    let chars: Vec<char> = tool.chars().collect();
    let relevant = |rule: &&Rule| {
        rule.role
            .as_ref()
            .is_none_or(|role| subject.roles.iter().any(|r| r == role))
            && rule.pattern.matches_chars(&chars)
    };
    let mut candidates = rules.iter().filter(relevant);
    let mut allowed = false;
    for rule in candidates.by_ref() {
        match rule.effect {
            Effect::Deny if rule.conditions.is_empty() => return false,
            Effect::Deny => {}
            Effect::Allow => allowed = true,
        }
    }
    allowed
}

/// The one decision function: may `subject` call `tool` with `arguments` under `rules`?
pub fn decide(rules: &[Rule], subject: &Subject<'_>, tool: &str, arguments: &Value) -> Decision {
    if !subject.permissions.contains(Permission::ToolsCall) {
        return Decision {
            allowed: false,
            confirm: false,
            rule: None,
            reason: "the caller lacks the permission tools:call".into(),
        };
    }
    let chars: Vec<char> = tool.chars().collect();
    let mut allow: Option<&Rule> = None;
    for rule in rules {
        if applies(rule, subject, &chars, arguments) != Applies::Yes {
            continue;
        }
        match rule.effect {
            Effect::Deny => {
                return Decision {
                    allowed: false,
                    confirm: false,
                    rule: Some((rule.id, rule.name.clone())),
                    reason: format!("denied by rule `{}` (deny wins)", rule.name),
                };
            }
            Effect::Allow => {
                let better = allow.is_none_or(|a| {
                    (rule.priority, std::cmp::Reverse(&rule.name))
                        > (a.priority, std::cmp::Reverse(&a.name))
                });
                if better {
                    allow = Some(rule);
                }
            }
        }
    }
    match allow {
        Some(rule) => Decision {
            allowed: true,
            confirm: rule.confirm,
            rule: Some((rule.id, rule.name.clone())),
            reason: if rule.confirm {
                format!("allowed by rule `{}` once the user confirms", rule.name)
            } else {
                format!("allowed by rule `{}`", rule.name)
            },
        },
        None => Decision {
            allowed: false,
            confirm: false,
            rule: None,
            reason: format!("no rule allows `{tool}` for this caller"),
        },
    }
}

/// [`decide`] plus, for every rule, whether and why it applied: the explain view.
pub fn explain(
    rules: &[Rule],
    subject: &Subject<'_>,
    tool: &str,
    arguments: &Value,
) -> (Decision, Vec<(Uuid, Applies)>) {
    let chars: Vec<char> = tool.chars().collect();
    let trace = rules
        .iter()
        .map(|r| (r.id, applies(r, subject, &chars, arguments)))
        .collect();
    (decide(rules, subject, tool, arguments), trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, effect: Effect, pattern: &str, role: Option<&str>) -> Rule {
        Rule {
            id: Uuid::now_v7(),
            name: name.into(),
            effect,
            pattern: Glob::new(pattern).unwrap(),
            role: role.map(str::to_string),
            conditions: Vec::new(),
            priority: 0,
            confirm: false,
        }
    }

    fn caller(roles: &[String]) -> Subject<'_> {
        Subject {
            roles,
            permissions: PermissionSet::of(&[Permission::ToolsCall]),
        }
    }

    #[test]
    fn globs_match_whole_names() {
        let g = |p: &str, t: &str| Glob::new(p).unwrap().matches(t);
        assert!(g("files.*", "files.read"));
        assert!(g("*.read", "files.read"));
        assert!(g("*", "anything.at.all"));
        assert!(g("fi?es.read", "files.read"));
        assert!(!g("files.*", "filesystem.read"));
        assert!(!g("files.read", "files.read_all"));
        assert!(g("a*b*c", "a.x.b.y.c"));
        assert!(!g("a*b*c", "a.x.b.y"));
        // No exponential blow-up on adversarial patterns.
        let long = "a".repeat(5000);
        assert!(!g("*a*a*a*a*a*a*a*a*b", &long));
        assert!(Glob::new("has space").is_err());
    }

    #[test]
    fn deny_wins_and_the_deciding_rule_is_named() {
        let roles = vec!["member".to_string()];
        let rules = vec![
            rule(
                "files-for-members",
                Effect::Allow,
                "files.*",
                Some("member"),
            ),
            rule("never-delete", Effect::Deny, "*.delete", None),
        ];
        let d = decide(&rules, &caller(&roles), "files.read", &json!({}));
        assert!(d.allowed);
        assert_eq!(d.rule.unwrap().1, "files-for-members");
        let d = decide(&rules, &caller(&roles), "files.delete", &json!({}));
        assert!(!d.allowed);
        assert_eq!(d.rule.unwrap().1, "never-delete");
        let d = decide(&rules, &caller(&roles), "web.fetch", &json!({}));
        assert!(!d.allowed && d.rule.is_none());
        assert_eq!(d.rule_label(), "default-deny");
        let others = vec!["viewer".to_string()];
        assert!(!decide(&rules, &caller(&others), "files.read", &json!({})).allowed);
        let no_permission = Subject {
            roles: &roles,
            permissions: PermissionSet::EMPTY,
        };
        let d = decide(&rules, &no_permission, "files.read", &json!({}));
        assert_eq!(d.rule_label(), "permission:tools:call");
    }

    #[test]
    fn conditions_constrain_arguments_and_paths_cannot_climb_out() {
        let roles = vec!["member".to_string()];
        let mut allow = rule("reports-only", Effect::Allow, "files.read", None);
        allow.conditions = vec![Condition::Prefix {
            path: "/path".into(),
            value: "/srv/reports/".into(),
        }];
        let mut cap = rule("small-payments", Effect::Deny, "pay.send", None);
        cap.conditions = vec![Condition::Min {
            path: "/amount".into(),
            value: 100.0,
        }];
        let mut pay = rule("pay", Effect::Allow, "pay.send", None);
        pay.conditions = vec![Condition::OneOf {
            path: "/currency".into(),
            values: vec![json!("EUR"), json!("USD")],
        }];
        let rules = vec![allow, cap, pay];
        let s = caller(&roles);
        let ok = |tool: &str, args: Value| decide(&rules, &s, tool, &args).allowed;
        assert!(ok("files.read", json!({ "path": "/srv/reports/q3.pdf" })));
        assert!(!ok(
            "files.read",
            json!({ "path": "/srv/reports/../secrets" })
        ));
        assert!(!ok("files.read", json!({ "path": "/etc/passwd" })));
        assert!(!ok("files.read", json!({})));
        assert!(ok("pay.send", json!({ "amount": 99.5, "currency": "EUR" })));
        assert!(!ok("pay.send", json!({ "amount": 100, "currency": "EUR" })));
        assert!(!ok("pay.send", json!({ "amount": 5, "currency": "GBP" })));
        let (decision, trace) = explain(&rules, &s, "pay.send", &json!({ "amount": 500 }));
        assert_eq!(decision.rule.unwrap().1, "small-payments");
        assert_eq!(trace[0].1, Applies::PatternDiffers);
        assert_eq!(trace[1].1, Applies::Yes);
        assert_eq!(trace[2].1, Applies::ConditionFails(0));
        assert_eq!(normalise_path("/a/./b/../c/"), Some("/a/c/".into()));
        assert_eq!(normalise_path("/../x"), None);
    }

    #[test]
    fn the_highest_priority_allow_decides() {
        let roles = vec![];
        let mut low = rule("b-low", Effect::Allow, "*", None);
        low.priority = 1;
        let mut high = rule("a-high", Effect::Allow, "math.*", None);
        high.priority = 5;
        let d = decide(&[low, high], &caller(&roles), "math.add", &json!({}));
        assert_eq!(d.rule.unwrap().1, "a-high");
    }
}
