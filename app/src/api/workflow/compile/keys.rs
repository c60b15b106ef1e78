//! Checks a definition's state keys: names, types, defaults, and reducers that suit them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Key, REDUCER_VARS, Reducer};
use crate::api::FieldError;
use crate::api::workflow::definition::{Definition, KeyType, ReducerSpec};
use crate::api::workflow::expr::Expr;

pub(super) fn compile_keys(
    definition: &Definition,
    problems: &mut Vec<FieldError>,
) -> BTreeMap<String, Key> {
    let mut keys = BTreeMap::new();
    for (name, key) in &definition.state {
        let field = format!("state.{name}");
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.len() <= 63
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            problems.push(FieldError::new(
                &field,
                "a state key is a letter or `_` then letters, digits and `_` (at most 63)",
            ));
        }
        // Without a default a key starts at its reducer's identity: [] for append, {} for
        // merge, 0 for sum; null otherwise.
        let default = key.default.clone().unwrap_or(match key.reducer {
            ReducerSpec::Append => Value::Array(Vec::new()),
            ReducerSpec::Merge => Value::Object(Default::default()),
            ReducerSpec::Sum => Value::from(0),
            _ => Value::Null,
        });
        if !key.kind.admits(&default) {
            problems.push(FieldError::new(
                &format!("{field}.default"),
                format!("is not of type {}", key.kind.name()),
            ));
        }
        let fits = match (&key.reducer, key.kind) {
            (ReducerSpec::Append, KeyType::Array | KeyType::Any) => true,
            (ReducerSpec::Merge, KeyType::Object | KeyType::Any) => true,
            (ReducerSpec::Sum, KeyType::Number | KeyType::Integer | KeyType::Any) => true,
            (ReducerSpec::Append | ReducerSpec::Merge | ReducerSpec::Sum, _) => false,
            _ => true,
        };
        if !fits {
            problems.push(FieldError::new(
                &format!("{field}.reducer"),
                format!("does not suit a key of type {}", key.kind.name()),
            ));
        }
        let reducer = match &key.reducer {
            ReducerSpec::Replace => Reducer::Replace,
            ReducerSpec::Append => Reducer::Append,
            ReducerSpec::Merge => Reducer::Merge,
            ReducerSpec::Sum => Reducer::Sum,
            ReducerSpec::Custom(source) => match Expr::parse(source, REDUCER_VARS) {
                Ok(expr) => Reducer::Custom(expr),
                Err(e) => {
                    problems.push(FieldError::new(
                        &format!("{field}.reducer.custom"),
                        e.to_string(),
                    ));
                    Reducer::Replace
                }
            },
        };
        keys.insert(
            name.clone(),
            Key {
                kind: key.kind,
                reducer,
                default,
            },
        );
    }
    keys
}
