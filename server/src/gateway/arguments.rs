//! What the audit trail keeps of a governed call's arguments: always their digest, and,
//! where the tenant opted in (`store_arguments`), the arguments themselves with values under
//! secret-looking names redacted and nothing over 16 KiB.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Arguments kept in the trail: the largest a record keeps.
const KEPT_ARGUMENTS_MAX: usize = 16 * 1024;

/// Names whose values are never kept, at any depth (compared lowercase, as substrings).
const SECRET_NAMES: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "authorization",
    "credential",
];

/// `arguments` as the trail keeps them, with values under secret-looking names redacted;
/// `None` when they are too large to keep.
pub fn kept(arguments: &Map<String, Value>) -> Option<Value> {
    fn redact(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (name, value) in map.iter_mut() {
                    let name = name.to_lowercase();
                    if SECRET_NAMES.iter().any(|s| name.contains(s)) {
                        *value = json!("[redacted]");
                    } else {
                        redact(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(redact),
            _ => {}
        }
    }
    let mut value = Value::Object(arguments.clone());
    redact(&mut value);
    let size = serde_json::to_vec(&value).map_or(usize::MAX, |b| b.len());
    (size <= KEPT_ARGUMENTS_MAX).then_some(value)
}

/// SHA-256 of the arguments' JSON, so the trail can tell calls apart without keeping them.
pub fn digest(arguments: &Map<String, Value>) -> String {
    let bytes = serde_json::to_vec(arguments).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_arguments_hide_secrets_at_any_depth_and_drop_when_large() {
        let arguments = json!({
            "query": "weather",
            "apiKey": "sk-123",
            "nested": { "Authorization": "Bearer x", "list": [{ "db_password": "p" }, 3] },
        });
        let Value::Object(arguments) = arguments else {
            unreachable!()
        };
        let kept = kept(&arguments).unwrap();
        assert_eq!(kept["query"], "weather");
        assert_eq!(kept["apiKey"], "[redacted]");
        assert_eq!(kept["nested"]["Authorization"], "[redacted]");
        assert_eq!(kept["nested"]["list"][0]["db_password"], "[redacted]");
        assert_eq!(kept["nested"]["list"][1], 3);
        let mut large = Map::new();
        large.insert("blob".into(), json!("x".repeat(KEPT_ARGUMENTS_MAX)));
        assert!(super::kept(&large).is_none());
    }
}
