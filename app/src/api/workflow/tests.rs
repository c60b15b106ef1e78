//! The expression language, the checker and the reducers: exact answers and errors for
//! chosen cases, and a property test that no text, however hostile, makes the parser or the
//! evaluator panic or loop.

use serde_json::{Value, json};

use super::compile::compile;
use super::definition::Definition;
use super::expr::Expr;
use super::state::{Template, apply, initial_state};

fn eval(source: &str, state: Value) -> Result<Value, String> {
    let expr = Expr::parse(source, &["state"]).map_err(|e| e.to_string())?;
    let vars: [(&str, &Value); 1] = [("state", &state)];
    expr.eval(&vars[..]).map_err(|e| e.message)
}

#[test]
fn expressions_evaluate_as_documented() {
    let state = json!({ "n": 7, "name": "Ada", "items": [1, 2, 3], "o": { "k": "v" }, "f": 0.5 });
    for (source, expected) in [
        ("1 + 2 * 3", json!(7)),
        ("(1 + 2) * 3", json!(9)),
        ("7 / 2", json!(3.5)),
        ("6 / 2", json!(3)),
        ("-state.n % 4", json!(-3)),
        ("state.n > 3 && state.name == 'Ada'", json!(true)),
        ("!state.missing", json!(true)),
        ("state.missing.deeper", Value::Null),
        ("state.items[-1]", json!(3)),
        ("state.items.0", json!(1)),
        ("state.items[9]", Value::Null),
        ("2 in state.items", json!(true)),
        ("'k' in state.o", json!(true)),
        ("'d' in state.name", json!(true)),
        ("state.n > 5 ? 'big' : 'small'", json!("big")),
        ("len(state.items) + len(state.name)", json!(6)),
        ("sum(state.items) + state.f", json!(6.5)),
        ("max(state.items)", json!(3)),
        ("min(4, 2, 9)", json!(2)),
        ("join(split('a,b,c', ','), '-')", json!("a-b-c")),
        ("upper(state.name) + string(state.n)", json!("ADA7")),
        ("number('12') + int(2.9)", json!(14)),
        ("round(2.345, 2)", json!(2.35)),
        ("coalesce(state.none, state.o.k)", json!("v")),
        ("merge(state.o, {x: 1})", json!({ "k": "v", "x": 1 })),
        ("slice(state.items, 1)", json!([2, 3])),
        ("[1, 'a'] + [true]", json!([1, "a", true])),
        ("type(state.o)", json!("object")),
        ("1 == 1.0", json!(true)),
        ("state.n >= 7 and not (state.n > 7)", json!(true)),
    ] {
        assert_eq!(eval(source, state.clone()), Ok(expected), "{source}");
    }
}

#[test]
fn bad_expressions_say_where_and_why() {
    for (source, error) in [
        ("1 +", "at character 4: expected a value, found the end"),
        (
            "state.n )",
            "at character 9: unexpected `)` after a complete expression",
        ),
        ("'open", "at character 1: unterminated string"),
        (
            "foo + 1",
            "at character 1: unknown name `foo`; this expression may read `state`",
        ),
        ("nope(1)", "unknown function `nope`"),
        ("len(1, 2)", "`len` takes 1 argument, got 2"),
        ("1 # 2", "at character 3: unexpected character `#`"),
    ] {
        let got = Expr::parse(source, &["state"]).unwrap_err().to_string();
        assert!(got.contains(error), "{source}: {got}");
    }
    for (source, error) in [
        ("1 / 0", "division by zero"),
        (
            "'a' + 1",
            "`+` needs two numbers, got a string and a number",
        ),
        ("state.n.x", "cannot read `x` of a number"),
        ("[1] < [2]", "cannot compare an array with an array"),
        ("9223372036854775807 * 1000000000000", "not a finite number"),
    ] {
        let got = eval(source, json!({ "n": 1 }));
        match got {
            // An overflowing product becomes a float, which is finite here.
            Ok(v) if source.starts_with("922") => assert!(v.is_f64()),
            Ok(v) => panic!("{source} gave {v}"),
            Err(e) => assert!(e.contains(error), "{source}: {e}"),
        }
    }
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    assert!(
        Expr::parse(&deep, &[])
            .unwrap_err()
            .message
            .contains("nested more than")
    );
    let long = "1+".repeat(3000) + "1";
    assert!(
        Expr::parse(&long, &[])
            .unwrap_err()
            .message
            .contains("at most 4096")
    );
}

/// A small deterministic generator (xorshift64*): the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

#[test]
fn no_text_makes_the_parser_or_evaluator_panic() {
    const PIECES: &[&str] = &[
        "state",
        ".",
        "n",
        "items",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        ",",
        ":",
        "?",
        "!",
        "-",
        "+",
        "*",
        "/",
        "%",
        "==",
        "!=",
        "<",
        ">=",
        "&&",
        "||",
        "in",
        "len",
        "max",
        "split",
        "join",
        "slice",
        "round",
        "merge",
        "'x'",
        "\"",
        "'",
        "\\",
        "0",
        "1",
        "-1",
        "2.5",
        "1e999",
        "99999999999999999999",
        "null",
        "true",
        "[1,2]",
        "{a:1}",
        " ",
        "é",
        "\u{0}",
        "{{",
        "}}",
    ];
    let state = json!({ "n": 3, "items": [1, "a", null, [2]], "o": { "a": 1 } });
    let vars: [(&str, &Value); 1] = [("state", &state)];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = 1 + rng.next() % 24;
        let text: String = (0..len).map(|_| rng.pick(PIECES)).collect();
        if let Ok(expr) = Expr::parse(&text, &["state"]) {
            parsed += 1;
            let _ = expr.eval(&vars[..]);
        }
        let _ = Template::parse(&Value::String(text));
    }
    assert!(parsed > 100, "some of the soup parses ({parsed})");
    // Well-formed expressions over every operator and function, of any types: evaluation
    // may fail, but only with an error.
    let mut evaluated = 0;
    for _ in 0..20_000 {
        let text = grammar(&mut rng, 0);
        let expr = Expr::parse(&text, &["state"]).unwrap_or_else(|e| panic!("{text}: {e}"));
        if expr.eval(&vars[..]).is_ok() {
            evaluated += 1;
        }
    }
    assert!(evaluated > 1_000, "some evaluate to a value ({evaluated})");
}

/// A random well-formed expression.
fn grammar(rng: &mut Rng, depth: u32) -> String {
    const ATOMS: &[&str] = &[
        "state.n",
        "state.items",
        "state.o",
        "state.o.a",
        "state.items[1]",
        "state.none",
        "0",
        "1",
        "-2",
        "2.5",
        "'ab'",
        "''",
        "null",
        "true",
        "[1, 'a']",
        "{a: 1}",
        "9223372036854775807",
    ];
    const OPS: &[&str] = &[
        "+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||", "in",
    ];
    const CALLS: &[&str] = &[
        "len", "lower", "trim", "keys", "values", "sum", "abs", "round", "floor", "string",
        "number", "int", "bool", "type", "max", "min", "coalesce",
    ];
    if depth > 4 {
        return rng.pick(ATOMS).to_owned();
    }
    match rng.next() % 6 {
        0 | 1 => rng.pick(ATOMS).to_owned(),
        2 => format!(
            "({} {} {})",
            grammar(rng, depth + 1),
            rng.pick(OPS),
            grammar(rng, depth + 1)
        ),
        3 => format!("{}({})", rng.pick(CALLS), grammar(rng, depth + 1)),
        4 => format!(
            "{} ? {} : {}",
            grammar(rng, depth + 1),
            grammar(rng, depth + 1),
            grammar(rng, depth + 1)
        ),
        _ => format!("{}[{}]", grammar(rng, depth + 1), grammar(rng, depth + 1)),
    }
}

fn definition(value: Value) -> Definition {
    serde_json::from_value(value).unwrap()
}

#[test]
fn reducers_combine_updates_and_keep_types() {
    let graph = compile(&definition(json!({
        "state": {
            "list": { "type": "array", "reducer": "append" },
            "sum": { "type": "integer", "reducer": "sum" },
            "obj": { "type": "object", "reducer": "merge" },
            "top": { "type": "integer", "reducer": { "custom": "max(coalesce(current, 0), update)" } },
            "name": { "type": "string" }
        },
        "start": "a",
        "nodes": { "a": { "kind": "transform", "set": { "name": "'x'" } } }
    })))
    .unwrap();
    let mut state = initial_state(&graph, &serde_json::Map::new()).unwrap();
    assert_eq!(
        Value::Object(state.clone()),
        json!({ "list": [], "sum": 0, "obj": {}, "top": null, "name": null })
    );
    let update = |v: Value| v.as_object().unwrap().clone();
    apply(
        &graph,
        &mut state,
        &update(json!({ "list": [1, 2], "sum": 2, "obj": { "a": 1 }, "top": 5 })),
    )
    .unwrap();
    apply(
        &graph,
        &mut state,
        &update(json!({ "list": 3, "sum": 3, "obj": { "b": 2 }, "top": 4 })),
    )
    .unwrap();
    assert_eq!(
        Value::Object(state.clone()),
        json!({ "list": [1, 2, 3], "sum": 5, "obj": { "a": 1, "b": 2 }, "top": 5, "name": null })
    );
    let err = apply(&graph, &mut state, &update(json!({ "name": 3 }))).unwrap_err();
    assert!(
        err.contains("`name` is string, so it cannot hold a number"),
        "{err}"
    );
    let err = apply(&graph, &mut state, &update(json!({ "sum": 0.5 }))).unwrap_err();
    assert!(err.contains("`sum` is integer"), "{err}");
    assert!(
        apply(&graph, &mut state, &update(json!({ "ghost": 1 })))
            .unwrap_err()
            .contains("not a key")
    );
}

#[test]
fn templates_keep_types_or_interpolate() {
    let state = json!({ "n": 2, "who": "Ada" });
    let template = Template::parse(&json!({
        "count": "{{ state.n + 1 }}",
        "text": "Hi {{ state.who }}, you have {{ state.n }}",
        "list": ["{{ state.who }}", 3],
        "fixed": true
    }))
    .unwrap();
    assert_eq!(
        template.render(&state).unwrap(),
        json!({ "count": 3, "text": "Hi Ada, you have 2", "list": ["Ada", 3], "fixed": true })
    );
    assert_eq!(
        template.members_of("state"),
        vec!["n".to_string(), "who".to_string()]
    );
    let (at, err) = Template::parse(&json!({ "a": [0, "x {{ state. }}"] })).unwrap_err();
    assert_eq!(at, "a[1]");
    assert!(err.message.contains("expected a key name"), "{err}");
    let (_, err) = Template::parse(&json!("{{ open")).unwrap_err();
    assert!(err.message.contains("without its `}}`"), "{err}");
}

#[test]
fn a_loop_without_a_way_out_is_still_a_valid_graph_but_an_island_is_not() {
    let looping = definition(json!({
        "state": { "n": { "type": "integer", "reducer": "sum" } },
        "start": "a",
        "nodes": { "a": { "kind": "transform", "set": { "n": "1" }, "next": "a" } }
    }));
    assert_eq!(compile(&looping).unwrap().max_steps, 1_000);
    let island = definition(json!({
        "start": "a",
        "nodes": {
            "a": { "kind": "approval" },
            "b": { "kind": "approval" }
        }
    }));
    let errors = compile(&island).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].field.as_str(), errors[0].message.as_str()),
        ("nodes.b", "no edge leads here from `start`")
    );
}

#[test]
fn llm_nodes_check_their_prompt_tools_and_bounds() {
    let good = definition(json!({
        "state": { "q": { "type": "string" }, "a": { "type": "string" } },
        "start": "ask",
        "nodes": { "ask": { "kind": "llm", "prompt": "Answer {{ state.q }}", "system": "Be brief.",
            "tools": ["math.*"], "tool_choice": "math.add", "max_rounds": 3, "temperature": 0.2,
            "output": "a" } }
    }));
    let graph = compile(&good).unwrap();
    let super::compile::Action::Llm(action) = &graph.nodes["ask"].action else {
        panic!("not an llm node");
    };
    assert_eq!(action.max_rounds, 3);
    assert_eq!(
        action.tool_choice,
        super::compile::ToolChoiceSpec::Tool("math.add".into())
    );
    let node = |extra: Value| {
        let mut node = json!({ "kind": "llm" });
        node.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        definition(json!({
            "state": { "a": { "type": "string" } },
            "start": "ask",
            "nodes": { "ask": node }
        }))
    };
    for (extra, field, message) in [
        (
            json!({}),
            "nodes.ask.prompt",
            "needs a `prompt` or `messages`",
        ),
        (
            json!({ "prompt": "x", "messages": [] }),
            "nodes.ask.messages",
            "not both",
        ),
        (
            json!({ "prompt": "x", "temperature": 3 }),
            "nodes.ask.temperature",
            "between 0 and 2",
        ),
        (
            json!({ "prompt": "x", "max_rounds": 0 }),
            "nodes.ask.max_rounds",
            "between 1 and 20",
        ),
        (
            json!({ "prompt": "x", "tools": ["fx.*"], "tool_choice": "web.search" }),
            "nodes.ask.tool_choice",
            "`web.search` is none of them",
        ),
        (
            json!({ "prompt": "x", "set": { "a": "1" } }),
            "nodes.ask.set",
            "an llm node takes no `set`",
        ),
        (
            json!({ "prompt": "{{ state.ghost }}" }),
            "nodes.ask.prompt",
            "no key `ghost`",
        ),
        (
            json!({ "prompt": "x", "output": "ghost" }),
            "nodes.ask.output",
            "no key `ghost`",
        ),
        (
            json!({ "prompt": "x", "provider": "two words" }),
            "nodes.ask.provider",
            "no spaces",
        ),
    ] {
        let problems = compile(&node(extra.clone())).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.message.contains(message)),
            "{extra}: {problems:?}"
        );
    }
}

#[test]
fn map_nodes_check_their_list_item_node_and_bounds() {
    let node = |node: Value| {
        definition(json!({
            "state": { "out": { "type": "array", "reducer": "append" } },
            "start": "each",
            "nodes": { "each": node }
        }))
    };
    let good = node(json!({ "kind": "map", "over": "[1, 2]", "output": "out",
        "do": { "kind": "tool", "tool": "fx.t", "arguments": { "n": "{{ item + index }}" } } }));
    assert!(compile(&good).is_ok());
    for (spec, field, message) in [
        (
            json!({ "kind": "map", "do": { "kind": "tool", "tool": "fx.t" } }),
            "nodes.each.over",
            "names the list",
        ),
        (
            json!({ "kind": "map", "over": "[1]" }),
            "nodes.each.do",
            "what to do for each item",
        ),
        (
            json!({ "kind": "map", "over": "[1]", "do": { "kind": "approval" } }),
            "nodes.each.do.kind",
            "a tool or llm node",
        ),
        (
            json!({ "kind": "map", "over": "[1]", "do": { "kind": "tool", "tool": "fx.t", "output": "out" } }),
            "nodes.each.do.output",
            "set it on the map node",
        ),
        (
            json!({ "kind": "map", "over": "[1]", "concurrency": 0, "do": { "kind": "tool", "tool": "fx.t" } }),
            "nodes.each.concurrency",
            "between 1 and 64",
        ),
        (
            json!({ "kind": "map", "over": "[1]", "do": { "kind": "tool", "tool": "fx.t",
                "arguments": { "x": "{{ state.ghost }}" } } }),
            "nodes.each.do.arguments",
            "no key `ghost`",
        ),
        (
            json!({ "kind": "transform", "set": { "out": "item" } }),
            "nodes.each.set.out",
            "item",
        ),
    ] {
        let problems = compile(&node(spec.clone())).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.message.contains(message)),
            "{spec}: {problems:?}"
        );
    }
}

#[test]
fn subgraph_nodes_check_their_workflow_and_input() {
    let node = |node: Value| {
        definition(json!({
            "state": { "n": { "type": "integer" }, "out": { "type": "object" } },
            "start": "sub",
            "nodes": { "sub": node }
        }))
    };
    let good = node(
        json!({ "kind": "subgraph", "workflow": "child", "input": { "n": "{{ state.n }}" }, "output": "out" }),
    );
    assert!(compile(&good).is_ok());
    for (spec, field, message) in [
        (
            json!({ "kind": "subgraph" }),
            "nodes.sub.workflow",
            "names the workflow",
        ),
        (
            json!({ "kind": "subgraph", "workflow": "Bad Name" }),
            "nodes.sub.workflow",
            "lowercase",
        ),
        (
            json!({ "kind": "subgraph", "workflow": "child", "input": [1] }),
            "nodes.sub.input",
            "an object",
        ),
        (
            json!({ "kind": "subgraph", "workflow": "child", "input": { "x": "{{ state.ghost }}" } }),
            "nodes.sub.input",
            "no key `ghost`",
        ),
        (
            json!({ "kind": "subgraph", "workflow": "child", "tool": "a.b" }),
            "nodes.sub.tool",
            "a subgraph node takes no `tool`",
        ),
    ] {
        let problems = compile(&node(spec.clone())).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.field == field && p.message.contains(message)),
            "{spec}: {problems:?}"
        );
    }
}
