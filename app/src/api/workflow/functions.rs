//! The expression language's functions and value rules: truthiness, equality, ordering.
//! Every function is pure and total over JSON: a wrong argument is an error, never a panic.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::expr::{ExprError, MAX_VALUE, fail};

macro_rules! functions {
    ($($variant:ident $name:literal $min:literal $max:literal),* $(,)?) => {
        /// A built-in function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum Func { $($variant),* }

        /// Every function's name, for error messages and the editor.
        pub const NAMES: &[&str] = &[$($name),*];

        impl Func {
            pub(super) fn named(name: &str) -> Option<Self> {
                match name { $($name => Some(Func::$variant),)* _ => None }
            }

            fn name(self) -> &'static str {
                match self { $(Func::$variant => $name),* }
            }

            /// The fewest and most arguments it takes.
            fn arity(self) -> (usize, usize) {
                match self { $(Func::$variant => ($min, $max)),* }
            }
        }
    };
}

functions! {
    Len "len" 1 1,
    Lower "lower" 1 1,
    Upper "upper" 1 1,
    Trim "trim" 1 1,
    Contains "contains" 2 2,
    StartsWith "starts_with" 2 2,
    EndsWith "ends_with" 2 2,
    Split "split" 2 2,
    Join "join" 2 2,
    Keys "keys" 1 1,
    Values "values" 1 1,
    Min "min" 1 64,
    Max "max" 1 64,
    Sum "sum" 1 1,
    Abs "abs" 1 1,
    Round "round" 1 2,
    Floor "floor" 1 1,
    Ceil "ceil" 1 1,
    ToString "string" 1 1,
    ToNumber "number" 1 1,
    ToInt "int" 1 1,
    ToBool "bool" 1 1,
    Coalesce "coalesce" 1 64,
    Type "type" 1 1,
    Slice "slice" 2 3,
    Merge "merge" 2 2,
}

impl Func {
    pub(super) fn check_arity(self, given: usize) -> Result<(), String> {
        let (min, max) = self.arity();
        if (min..=max).contains(&given) {
            return Ok(());
        }
        let wanted = match (min, max) {
            (a, b) if a == b => format!("{a}"),
            (a, 64) => format!("at least {a}"),
            (a, b) => format!("{a} to {b}"),
        };
        Err(format!(
            "`{}` takes {wanted} argument{}, got {given}",
            self.name(),
            if wanted == "1" { "" } else { "s" }
        ))
    }

    pub(super) fn apply(self, mut args: Vec<Value>) -> Result<Value, ExprError> {
        let name = self.name();
        let first = args.first().cloned().unwrap_or(Value::Null);
        let text = |v: &Value| match v {
            Value::String(s) => Ok(s.clone()),
            other => fail(format!("`{name}` needs a string, got {}", kind(other))),
        };
        let num = |v: &Value| match v {
            Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
            other => fail(format!("`{name}` needs a number, got {}", kind(other))),
        };
        Ok(match self {
            Func::Len => Value::from(match &first {
                Value::String(s) => s.chars().count(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                other => {
                    return fail(format!(
                        "`len` needs a string, array or object, got {}",
                        kind(other)
                    ));
                }
            }),
            Func::Lower => Value::String(text(&first)?.to_lowercase()),
            Func::Upper => Value::String(text(&first)?.to_uppercase()),
            Func::Trim => Value::String(text(&first)?.trim().to_owned()),
            Func::Contains => Value::Bool(contains(&first, &args[1])?),
            Func::StartsWith => Value::Bool(text(&first)?.starts_with(&text(&args[1])?)),
            Func::EndsWith => Value::Bool(text(&first)?.ends_with(&text(&args[1])?)),
            Func::Split => {
                let separator = text(&args[1])?;
                if separator.is_empty() {
                    return fail("`split` needs a non-empty separator");
                }
                let parts: Vec<Value> = text(&first)?.split(&separator).map(Value::from).collect();
                bounded_items(parts.len())?;
                Value::Array(parts)
            }
            Func::Join => {
                let Value::Array(items) = &first else {
                    return fail(format!("`join` needs an array, got {}", kind(&first)));
                };
                let separator = text(&args[1])?;
                let parts: Vec<String> = items.iter().map(display).collect();
                let joined = parts.join(&separator);
                bounded_string(joined.chars().count())?;
                Value::String(joined)
            }
            Func::Keys => Value::Array(
                object(name, &first)?
                    .keys()
                    .cloned()
                    .map(Value::from)
                    .collect(),
            ),
            Func::Values => Value::Array(object(name, &first)?.values().cloned().collect()),
            Func::Min | Func::Max => {
                let items = match (args.len(), first) {
                    (1, Value::Array(items)) => items,
                    _ => args,
                };
                let mut best: Option<Value> = None;
                for item in items {
                    let better = match &best {
                        None => true,
                        Some(b) => match compare(&item, b) {
                            Some(order) => (order == Ordering::Less) == (self == Func::Min),
                            None => {
                                return fail(format!(
                                    "`{name}` cannot compare {} with {}",
                                    kind(&item),
                                    kind(b)
                                ));
                            }
                        },
                    };
                    if better {
                        best = Some(item);
                    }
                }
                best.unwrap_or(Value::Null)
            }
            Func::Sum => {
                let Value::Array(items) = &first else {
                    return fail(format!("`sum` needs an array, got {}", kind(&first)));
                };
                let mut whole: Option<i64> = Some(0);
                let mut total = 0.0;
                for item in items {
                    total += num(item)?;
                    whole = whole.zip(item.as_i64()).and_then(|(a, b)| a.checked_add(b));
                }
                whole.map_or_else(|| number(total), |n| Ok(Value::from(n)))?
            }
            Func::Abs => whole_or(num(&first)?.abs(), &first)?,
            Func::Floor => whole_or(num(&first)?.floor(), &Value::Null)?,
            Func::Ceil => whole_or(num(&first)?.ceil(), &Value::Null)?,
            Func::Round => {
                let digits = match args.get(1) {
                    None => 0,
                    Some(d) => match d.as_i64() {
                        Some(d) if (0..=15).contains(&d) => d as i32,
                        _ => return fail("`round` takes 0 to 15 digits"),
                    },
                };
                let scale = 10f64.powi(digits);
                let rounded = (num(&first)? * scale).round() / scale;
                if digits == 0 {
                    whole_or(rounded, &Value::Null)?
                } else {
                    number(rounded)?
                }
            }
            Func::ToString => Value::String(display(&first)),
            Func::ToNumber => match &first {
                Value::Number(_) => first,
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => match s.trim().parse::<f64>() {
                        Ok(f) => number(f)?,
                        Err(_) => return fail(format!("`number`: `{s}` is not a number")),
                    },
                },
                Value::Bool(b) => Value::from(i64::from(*b)),
                other => return fail(format!("`number` cannot convert {}", kind(other))),
            },
            Func::ToInt => {
                let n = match Func::ToNumber.apply(vec![first])? {
                    Value::Number(n) => n.as_f64().unwrap_or(0.0).trunc(),
                    _ => 0.0,
                };
                whole_or(n, &Value::Null)?
            }
            Func::ToBool => Value::Bool(truthy(&first)),
            Func::Coalesce => args
                .into_iter()
                .find(|v| !v.is_null())
                .unwrap_or(Value::Null),
            Func::Type => Value::from(
                kind(&first)
                    .trim_start_matches("a ")
                    .trim_start_matches("an "),
            ),
            Func::Slice => {
                let bound = |i: usize, len: usize| -> Result<usize, ExprError> {
                    match args.get(i).map(Value::as_i64) {
                        None => Ok(len),
                        Some(Some(n)) if n < 0 => Ok(len.saturating_sub(n.unsigned_abs() as usize)),
                        Some(Some(n)) => Ok((n as usize).min(len)),
                        Some(None) => fail("`slice` takes whole-number bounds"),
                    }
                };
                match &first {
                    Value::Array(items) => {
                        let (start, end) = (bound(1, items.len())?, bound(2, items.len())?);
                        Value::Array(
                            items
                                .get(start..end.max(start))
                                .unwrap_or_default()
                                .to_vec(),
                        )
                    }
                    Value::String(s) => {
                        let chars: Vec<char> = s.chars().collect();
                        let (start, end) = (bound(1, chars.len())?, bound(2, chars.len())?);
                        Value::String(
                            chars
                                .get(start..end.max(start))
                                .unwrap_or_default()
                                .iter()
                                .collect(),
                        )
                    }
                    other => {
                        return fail(format!(
                            "`slice` needs an array or string, got {}",
                            kind(other)
                        ));
                    }
                }
            }
            Func::Merge => {
                let mut merged = object(name, &first)?.clone();
                for (k, v) in object(name, &args.swap_remove(1))? {
                    merged.insert(k.clone(), v.clone());
                }
                Value::Object(merged)
            }
        })
    }
}

fn object<'v>(name: &str, value: &'v Value) -> Result<&'v Map<String, Value>, ExprError> {
    match value {
        Value::Object(map) => Ok(map),
        other => fail(format!("`{name}` needs an object, got {}", kind(other))),
    }
}

/// A whole result stays a JSON integer when it fits; `like` keeps an integer input integral.
fn whole_or(n: f64, like: &Value) -> Result<Value, ExprError> {
    if like.is_i64() || (n.fract() == 0.0 && n.abs() < 9.0e15) {
        return Ok(Value::from(n as i64));
    }
    number(n)
}

/// A float JSON can hold.
pub(super) fn number(n: f64) -> Result<Value, ExprError> {
    serde_json::Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| ExprError {
            at: 0,
            message: "the result is not a finite number".into(),
        })
}

pub(super) fn bounded_string(chars: usize) -> Result<(), ExprError> {
    if chars > MAX_VALUE {
        return fail(format!("a string may hold at most {MAX_VALUE} characters"));
    }
    Ok(())
}

pub(super) fn bounded_items(items: usize) -> Result<(), ExprError> {
    if items > MAX_VALUE {
        return fail(format!("an array may hold at most {MAX_VALUE} items"));
    }
    Ok(())
}

/// What a value is, for messages: "a string", "an array", …
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `null`, `false`, `0`, `""`, `[]` and `{}` are false; everything else is true.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Deep equality, numbers by value (`1 == 1.0`).
pub(super) fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// Numbers with numbers, strings with strings; anything else has no order.
pub(super) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `needle in haystack`: an array's item, an object's key, a string's substring.
pub(super) fn contains(haystack: &Value, needle: &Value) -> Result<bool, ExprError> {
    match (haystack, needle) {
        (Value::Array(items), _) => Ok(items.iter().any(|item| equal(item, needle))),
        (Value::Object(map), Value::String(key)) => Ok(map.contains_key(key)),
        (Value::String(s), Value::String(part)) => Ok(s.contains(part.as_str())),
        (Value::Null, _) => Ok(false),
        _ => fail(format!(
            "cannot look for {} in {}",
            kind(needle),
            kind(haystack)
        )),
    }
}

/// A value as text: strings as they are, everything else as JSON.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
