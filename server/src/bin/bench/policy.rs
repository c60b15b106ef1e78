//! ns per tool-policy decision with 1,000 rules: the cost the gateway pays on every call.

use std::time::Instant;

use serde_json::json;
use switchyard::access::{
    Condition, Effect, Glob, Permission, PermissionSet, Rule, Subject, decide,
};
use uuid::Uuid;

/// 1,000 rules over 50 upstreams and 10 roles: a tenth deny, a fifth with an argument
/// condition, patterns mixing exact names and globs.
fn rules() -> Vec<Rule> {
    (0..1000)
        .map(|i| {
            let pattern = match i % 4 {
                0 => format!("upstream{}.tool{i}", i % 50),
                1 => format!("upstream{}.*", i % 50),
                2 => format!("*.tool{i}"),
                _ => format!("upstream{}.t?ol{i}", i % 50),
            };
            let conditions = if i % 5 == 0 {
                vec![Condition::Prefix {
                    path: "/path".into(),
                    value: format!("/data/{}/", i % 7),
                }]
            } else {
                Vec::new()
            };
            Rule {
                id: Uuid::now_v7(),
                name: format!("rule-{i}"),
                effect: if i % 10 == 0 {
                    Effect::Deny
                } else {
                    Effect::Allow
                },
                pattern: Glob::new(&pattern).expect("valid pattern"),
                role: (i % 3 != 0).then(|| format!("role{}", i % 10)),
                conditions,
                priority: i % 5,
                confirm: false,
            }
        })
        .collect()
}

pub fn run() {
    let rules = rules();
    let roles = vec!["role1".to_string(), "role4".to_string()];
    let subject = Subject {
        roles: &roles,
        permissions: PermissionSet::of(&[Permission::ToolsCall]),
    };
    let arguments = json!({ "path": "/data/3/report.csv", "limit": 10 });
    const N: u32 = 20_000;
    println!(
        "\ntool-policy decision over {} rules, {N} times each:",
        rules.len()
    );
    for (label, tool) in [
        ("allowed by an upstream glob", "upstream1.search"),
        ("no rule matches (full scan)", "elsewhere.unknown"),
        ("many candidates, one deny", "upstream0.tool0"),
    ] {
        let mut allowed = false;
        let started = Instant::now();
        for _ in 0..N {
            allowed = std::hint::black_box(decide(&rules, &subject, tool, &arguments)).allowed;
        }
        let ns = started.elapsed().as_secs_f64() * 1e9 / f64::from(N);
        println!(
            "  {label:<30} {:>9.1} µs   (allowed: {allowed})",
            ns / 1000.0
        );
    }
}
