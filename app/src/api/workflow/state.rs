//! A run's state: its first value, how node updates combine into it (the keys' reducers),
//! and templates that build JSON (tool arguments, approval prompts) from it.

use serde_json::{Map, Value};

use super::compile::{Graph, Key, NODE_VARS, Reducer};
use super::expr::{Expr, ExprError, MAX_VALUE};
use super::functions::{display, kind};

/// The state a run starts with: every key's default, then `input` over it. `input` may set
/// only declared keys, each with a value of its type.
pub fn initial_state(
    graph: &Graph,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut state: Map<String, Value> = graph
        .keys
        .iter()
        .map(|(name, key)| (name.clone(), key.default.clone()))
        .collect();
    for (name, value) in input {
        let Some(key) = graph.keys.get(name) else {
            return Err(format!(
                "the input sets `{name}`, which the workflow's state does not declare"
            ));
        };
        if !key.kind.admits(value) {
            return Err(format!(
                "the input's `{name}` is {}, not {}",
                kind(value),
                key.kind.name()
            ));
        }
        state.insert(name.clone(), value.clone());
    }
    Ok(state)
}

/// Applies one node's update (key → value) to `state` through the keys' reducers.
pub fn apply(
    graph: &Graph,
    state: &mut Map<String, Value>,
    update: &Map<String, Value>,
) -> Result<(), String> {
    for (name, value) in update {
        let Some(key) = graph.keys.get(name) else {
            return Err(format!("`{name}` is not a key of the state"));
        };
        let current = state.remove(name).unwrap_or(Value::Null);
        let next =
            reduce(key, current, value.clone()).map_err(|e| format!("state key `{name}`: {e}"))?;
        if !key.kind.admits(&next) {
            return Err(format!(
                "state key `{name}` is {}, so it cannot hold {}",
                key.kind.name(),
                kind(&next)
            ));
        }
        state.insert(name.clone(), next);
    }
    Ok(())
}

fn reduce(key: &Key, current: Value, update: Value) -> Result<Value, String> {
    Ok(match &key.reducer {
        Reducer::Replace => update,
        Reducer::Append => {
            let mut items = match current {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                other => return Err(format!("appends to an array, but holds {}", kind(&other))),
            };
            match update {
                Value::Array(more) => items.extend(more),
                one => items.push(one),
            }
            if items.len() > MAX_VALUE {
                return Err(format!("an array may hold at most {MAX_VALUE} items"));
            }
            Value::Array(items)
        }
        Reducer::Merge => {
            let mut map = match current {
                Value::Object(map) => map,
                Value::Null => Map::new(),
                other => return Err(format!("merges into an object, but holds {}", kind(&other))),
            };
            let Value::Object(more) = update else {
                return Err(format!(
                    "merges objects, but the update is {}",
                    kind(&update)
                ));
            };
            map.extend(more);
            Value::Object(map)
        }
        Reducer::Sum => {
            let current = if current.is_null() {
                Value::from(0)
            } else {
                current
            };
            super::expr::add(&current, &update).map_err(|e| e.message)?
        }
        Reducer::Custom(expr) => {
            let vars: [(&str, &Value); 2] = [("current", &current), ("update", &update)];
            expr.eval(&vars[..])
                .map_err(|e| format!("its reducer failed: {}", e.message))?
        }
    })
}

/// JSON with expressions in it: a string that is exactly `{{ expr }}` becomes the
/// expression's value (of any type); `{{ expr }}` inside a longer string, its text.
#[derive(Clone, Debug)]
pub enum Template {
    Fixed(Value),
    Expr(Expr),
    Text(Vec<Part>),
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

#[derive(Clone, Debug)]
pub enum Part {
    Literal(String),
    Expr(Expr),
}

impl Template {
    /// Parses every expression in `value`; an error says where (`a.b[2]`) and why.
    pub fn parse(value: &Value) -> Result<Self, (String, ExprError)> {
        Self::parse_with(value, NODE_VARS)
    }

    /// As [`Template::parse`], its expressions reading `vars` (a map's items add `item` and
    /// `index` to `state`).
    pub fn parse_with(value: &Value, vars: &[&str]) -> Result<Self, (String, ExprError)> {
        Ok(match value {
            Value::String(text) if text.contains("{{") => {
                parse_text(text, vars).map_err(|e| (String::new(), e))?
            }
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Template::parse_with(item, vars)
                            .map_err(|(at, e)| (join(&format!("[{i}]"), &at), e))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Template::Object(
                map.iter()
                    .map(|(k, v)| {
                        Ok((
                            k.clone(),
                            Template::parse_with(v, vars).map_err(|(at, e)| (join(k, &at), e))?,
                        ))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            fixed => Template::Fixed(fixed.clone()),
        })
    }

    /// The keys of `var` its expressions read.
    pub fn members_of(&self, var: &str) -> Vec<String> {
        let mut found = Vec::new();
        self.walk(&mut |e| found.extend(e.members_of(var)));
        found.sort();
        found.dedup();
        found
    }

    fn walk(&self, visit: &mut impl FnMut(&Expr)) {
        match self {
            Template::Fixed(_) => {}
            Template::Expr(e) => visit(e),
            Template::Text(parts) => parts.iter().for_each(|p| {
                if let Part::Expr(e) = p {
                    visit(e)
                }
            }),
            Template::Array(items) => items.iter().for_each(|t| t.walk(visit)),
            Template::Object(fields) => fields.iter().for_each(|(_, t)| t.walk(visit)),
        }
    }

    /// The JSON for `state`.
    pub fn render(&self, state: &Value) -> Result<Value, ExprError> {
        self.render_with(&[("state", state)])
    }

    /// The JSON for these variables' values.
    pub fn render_with(&self, vars: &[(&str, &Value)]) -> Result<Value, ExprError> {
        Ok(match self {
            Template::Fixed(v) => v.clone(),
            Template::Expr(e) => e.eval(vars)?,
            Template::Text(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Literal(s) => text.push_str(s),
                        Part::Expr(e) => text.push_str(&display(&e.eval(vars)?)),
                    }
                    if text.len() > MAX_VALUE {
                        return super::expr::fail_at(0, "a rendered string is too long");
                    }
                }
                Value::String(text)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render_with(vars))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Object(fields) => {
                let mut map = Map::new();
                for (k, t) in fields {
                    map.insert(k.clone(), t.render_with(vars)?);
                }
                Value::Object(map)
            }
        })
    }
}

fn join(head: &str, rest: &str) -> String {
    match (rest.is_empty(), rest.starts_with('[')) {
        (true, _) => head.to_owned(),
        (false, true) => format!("{head}{rest}"),
        (false, false) => format!("{head}.{rest}"),
    }
}

fn parse_text(text: &str, vars: &[&str]) -> Result<Template, ExprError> {
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|t| t.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return Expr::parse(inner.trim(), vars).map(Template::Expr);
    }
    let mut parts = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            return super::expr::fail_at(offset + open, "`{{` without its `}}`");
        };
        if open > 0 {
            parts.push(Part::Literal(rest[..open].to_owned()));
        }
        let inner = &rest[open + 2..open + close];
        let expr = Expr::parse(inner.trim(), vars).map_err(|mut e| {
            e.at += offset + open + 2;
            e
        })?;
        parts.push(Part::Expr(expr));
        offset += open + close + 2;
        rest = &rest[open + close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest.to_owned()));
    }
    Ok(Template::Text(parts))
}
