//! Metadata filters, in Pinecone's filter language (docs.pinecone.io, "Filter by metadata"):
//! `{"genre": "drama", "year": {"$gte": 2020}, "$or": [{…}, {…}]}`. Fields at one level are
//! all required; `$and`/`$or` take lists of filters.
//!
//! Metadata values are strings, numbers, booleans or lists of strings. On a list, `$eq` and
//! `$in` match when any element does, `$ne` and `$nin` when none does. A record without the
//! field matches only `$ne`, `$nin` and `{"$exists": false}`.

use serde_json::{Map, Value};

/// Nesting deeper than this is refused (a filter is written by a caller, not generated).
const MAX_DEPTH: usize = 16;
/// Values in one `$in`/`$nin`.
const MAX_LIST: usize = 10_000;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Field(String, Condition),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Eq(Scalar),
    Ne(Scalar),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    In(Vec<Scalar>),
    Nin(Vec<Scalar>),
    Exists(bool),
}

/// A value a filter compares with.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl Scalar {
    fn parse(value: &Value, at: &str) -> Result<Scalar, String> {
        match value {
            Value::String(s) => Ok(Scalar::Text(s.clone())),
            Value::Bool(b) => Ok(Scalar::Bool(*b)),
            Value::Number(n) => n
                .as_f64()
                .map(Scalar::Number)
                .ok_or_else(|| format!("{at}: {n} is not a number this index can compare")),
            other => Err(format!(
                "{at}: compare with a string, number or boolean, not {}",
                kind(other)
            )),
        }
    }

    fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Scalar::Text(a), Value::String(b)) => a == b,
            (Scalar::Bool(a), Value::Bool(b)) => a == b,
            (Scalar::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (_, Value::Array(items)) => items.iter().any(|item| self.matches(item)),
            _ => false,
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Filter {
    /// Parses a filter, or says where and why it is not one.
    pub fn parse(value: &Value) -> Result<Filter, String> {
        parse(value, "filter", 0)
    }

    /// Whether a record with `metadata` passes.
    pub fn matches(&self, metadata: &Map<String, Value>) -> bool {
        match self {
            Filter::All(parts) => parts.iter().all(|p| p.matches(metadata)),
            Filter::Any(parts) => parts.iter().any(|p| p.matches(metadata)),
            Filter::Field(name, condition) => condition.matches(metadata.get(name)),
        }
    }
}

impl Condition {
    fn matches(&self, value: Option<&Value>) -> bool {
        let number = || value.and_then(Value::as_f64);
        match self {
            Condition::Exists(wanted) => value.is_some() == *wanted,
            Condition::Eq(s) => value.is_some_and(|v| s.matches(v)),
            Condition::Ne(s) => !value.is_some_and(|v| s.matches(v)),
            Condition::In(set) => value.is_some_and(|v| set.iter().any(|s| s.matches(v))),
            Condition::Nin(set) => !value.is_some_and(|v| set.iter().any(|s| s.matches(v))),
            Condition::Gt(x) => number().is_some_and(|n| n > *x),
            Condition::Gte(x) => number().is_some_and(|n| n >= *x),
            Condition::Lt(x) => number().is_some_and(|n| n < *x),
            Condition::Lte(x) => number().is_some_and(|n| n <= *x),
        }
    }
}

fn parse(value: &Value, at: &str, depth: usize) -> Result<Filter, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: nested more than {MAX_DEPTH} levels deep"));
    }
    let Value::Object(fields) = value else {
        return Err(format!("{at}: a filter is an object, not {}", kind(value)));
    };
    let mut parts = Vec::with_capacity(fields.len());
    for (key, value) in fields {
        let here = format!("{at}.{key}");
        parts.push(match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = value else {
                    return Err(format!("{here}: takes a list of filters"));
                };
                if items.is_empty() {
                    return Err(format!("{here}: the list is empty"));
                }
                let inner = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| parse(item, &format!("{here}[{i}]"), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "$and" {
                    Filter::All(inner)
                } else {
                    Filter::Any(inner)
                }
            }
            operator if operator.starts_with('$') => {
                return Err(format!(
                    "{here}: `{operator}` is not a filter on a field; at this level use a field name, `$and` or `$or`"
                ));
            }
            field => field_filter(field, value, &here)?,
        });
    }
    Ok(match parts.len() {
        1 => parts.pop().expect("one part"),
        _ => Filter::All(parts),
    })
}

fn field_filter(field: &str, value: &Value, at: &str) -> Result<Filter, String> {
    let Value::Object(operators) = value else {
        // `{"genre": "drama"}` is short for `{"genre": {"$eq": "drama"}}`.
        return Ok(Filter::Field(
            field.into(),
            Condition::Eq(Scalar::parse(value, at)?),
        ));
    };
    if operators.is_empty() {
        return Err(format!("{at}: name an operator, like {{\"$eq\": …}}"));
    }
    let mut conditions = Vec::with_capacity(operators.len());
    for (operator, operand) in operators {
        let here = format!("{at}.{operator}");
        let number = || {
            operand
                .as_f64()
                .ok_or_else(|| format!("{here}: compares with a number, not {}", kind(operand)))
        };
        let list = || -> Result<Vec<Scalar>, String> {
            let Value::Array(items) = operand else {
                return Err(format!("{here}: takes a list, not {}", kind(operand)));
            };
            if items.len() > MAX_LIST {
                return Err(format!("{here}: more than {MAX_LIST} values"));
            }
            items
                .iter()
                .map(|item| Scalar::parse(item, &here))
                .collect()
        };
        conditions.push(match operator.as_str() {
            "$eq" => Condition::Eq(Scalar::parse(operand, &here)?),
            "$ne" => Condition::Ne(Scalar::parse(operand, &here)?),
            "$gt" => Condition::Gt(number()?),
            "$gte" => Condition::Gte(number()?),
            "$lt" => Condition::Lt(number()?),
            "$lte" => Condition::Lte(number()?),
            "$in" => Condition::In(list()?),
            "$nin" => Condition::Nin(list()?),
            "$exists" => Condition::Exists(
                operand
                    .as_bool()
                    .ok_or_else(|| format!("{here}: takes true or false"))?,
            ),
            other => {
                return Err(format!(
                    "{here}: unknown operator `{other}`; the operators are $eq $ne $gt $gte $lt $lte $in $nin $exists"
                ));
            }
        });
    }
    let mut filters: Vec<Filter> = conditions
        .into_iter()
        .map(|c| Filter::Field(field.into(), c))
        .collect();
    Ok(match filters.len() {
        1 => filters.pop().expect("one condition"),
        _ => Filter::All(filters),
    })
}

/// Checks that `metadata` holds only values a filter can compare: strings, numbers,
/// booleans and lists of strings.
pub fn check_metadata(metadata: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in metadata {
        let fits = match value {
            Value::String(_) | Value::Bool(_) => true,
            Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
            Value::Array(items) => items.iter().all(Value::is_string),
            Value::Null | Value::Object(_) => false,
        };
        if !fits {
            return Err(format!(
                "metadata `{key}` is {}: values are strings, numbers, booleans or lists of strings",
                kind(value)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn passes(filter: Value, metadata: Value) -> bool {
        let Value::Object(m) = metadata else { panic!() };
        Filter::parse(&filter).unwrap().matches(&m)
    }

    #[test]
    fn operators_match_as_pinecone_documents_them() {
        let movie = json!({"genre": "drama", "year": 2021, "tags": ["a", "b"], "free": true});
        assert!(passes(json!({"genre": "drama"}), movie.clone()));
        assert!(passes(
            json!({"year": {"$gte": 2021, "$lt": 2022}}),
            movie.clone()
        ));
        assert!(!passes(json!({"year": {"$gt": 2021}}), movie.clone()));
        assert!(passes(json!({"tags": "b"}), movie.clone()));
        assert!(passes(json!({"tags": {"$nin": ["c"]}}), movie.clone()));
        assert!(!passes(json!({"tags": {"$ne": "a"}}), movie.clone()));
        assert!(passes(
            json!({"genre": {"$in": ["comedy", "drama"]}}),
            movie.clone()
        ));
        assert!(passes(
            json!({"free": true, "missing": {"$exists": false}}),
            movie.clone()
        ));
        assert!(passes(json!({"missing": {"$ne": 1}}), movie.clone()));
        assert!(!passes(json!({"missing": {"$lt": 1}}), movie.clone()));
        assert!(passes(
            json!({"$or": [{"genre": "comedy"}, {"$and": [{"year": 2021}, {"free": true}]}]}),
            movie
        ));
    }

    #[test]
    fn mistakes_are_named_where_they_are() {
        let error = |f: Value| Filter::parse(&f).unwrap_err();
        assert_eq!(
            error(json!({"year": {"$regex": "x"}})),
            "filter.year.$regex: unknown operator `$regex`; the operators are $eq $ne $gt $gte $lt $lte $in $nin $exists"
        );
        assert_eq!(error(json!({"$or": []})), "filter.$or: the list is empty");
        assert_eq!(
            error(json!({"year": {"$gt": "2020"}})),
            "filter.year.$gt: compares with a number, not a string"
        );
        assert_eq!(
            error(json!([1])),
            "filter: a filter is an object, not a list"
        );
        let mut deep = json!({"a": 1});
        for _ in 0..20 {
            deep = json!({"$and": [deep]});
        }
        assert!(error(deep).contains("nested more than 16 levels"));
    }

    #[test]
    fn metadata_holds_only_comparable_values() {
        let ok = json!({"a": "x", "b": 1.5, "c": false, "d": ["x", "y"]});
        assert!(check_metadata(ok.as_object().unwrap()).is_ok());
        let nested = json!({"a": {"b": 1}});
        assert_eq!(
            check_metadata(nested.as_object().unwrap()).unwrap_err(),
            "metadata `a` is an object: values are strings, numbers, booleans or lists of strings"
        );
        assert!(check_metadata(json!({"n": [1, 2]}).as_object().unwrap()).is_err());
    }
}
