//! Field rules shared by the server (authoritative) and the console (early feedback).

use serde::{Deserialize, Serialize};

/// One field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The JSON field name.
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A slug: 2–63 of `a-z`, `0-9`, `-`, not starting or ending with `-`.
pub fn validate_slug(field: &str, slug: &str) -> Result<(), FieldError> {
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(2..=63).contains(&slug.len()) {
        return Err(FieldError::new(field, "must be 2 to 63 characters long"));
    }
    if !ok_chars || slug.starts_with('-') || slug.ends_with('-') {
        return Err(FieldError::new(
            field,
            "may contain only lowercase letters, digits and '-', and must not start or end with '-'",
        ));
    }
    Ok(())
}

/// A role or rule name: 2–63 characters of lowercase letters, digits, `-` and `_`.
pub fn validate_identifier(field: &str, name: &str) -> Result<(), FieldError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !(2..=63).contains(&name.len()) {
        return Err(FieldError::new(field, "must be 2 to 63 characters long"));
    }
    if !ok_chars {
        return Err(FieldError::new(
            field,
            "may contain only lowercase letters, digits, '-' and '_'",
        ));
    }
    Ok(())
}

/// A display name: 1–200 characters, not only whitespace, no control characters.
pub fn validate_name(field: &str, name: &str) -> Result<(), FieldError> {
    let length = name.chars().count();
    if name.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if length > 200 {
        return Err(FieldError::new(
            field,
            "must be at most 200 characters long",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An email address in the shape `local@domain`, at most 254 characters (RFC 5321 §4.5.3.1).
/// Deliverability is proven by a sign-in, not by a pattern, so the check is deliberately plain.
pub fn validate_email(field: &str, email: &str) -> Result<(), FieldError> {
    if email.len() > 254 {
        return Err(FieldError::new(
            field,
            "must be at most 254 characters long",
        ));
    }
    let shape_ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    };
    if !shape_ok || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            field,
            "must be an email address like name@example.com",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(validate_slug("slug", "acme").is_ok());
        assert!(validate_slug("slug", "team-7").is_ok());
        for bad in [
            "a",
            "-acme",
            "acme-",
            "Acme",
            "ac me",
            "ac_me",
            &"a".repeat(64),
        ] {
            assert!(validate_slug("slug", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names() {
        assert!(validate_name("name", "Acme Corp").is_ok());
        assert!(validate_name("name", "   ").is_err());
        assert!(validate_name("name", "a\u{0007}b").is_err());
        assert!(validate_name("name", &"é".repeat(200)).is_ok());
        assert!(validate_name("name", &"é".repeat(201)).is_err());
    }

    #[test]
    fn emails() {
        assert!(validate_email("email", "ada@example.com").is_ok());
        assert!(validate_email("email", "admin@localhost").is_ok());
        for bad in [
            "ada",
            "@example.com",
            "ada@",
            "a@b@c",
            "ada @example.com",
            "ada@.com",
        ] {
            assert!(validate_email("email", bad).is_err(), "{bad} accepted");
        }
    }
}
