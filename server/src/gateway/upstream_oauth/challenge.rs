//! The `WWW-Authenticate: Bearer …` challenge of a protected upstream (RFC 6750 §3): where
//! its Protected Resource Metadata is (RFC 9728 §5.1), which scopes it wants, and why it
//! refused (`invalid_token`, `insufficient_scope`).

use std::collections::HashMap;

use reqwest::Url;

use super::discovery::Http;

/// The parameters of a Bearer challenge; unknown ones are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    pub resource_metadata: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

impl Challenge {
    /// The Bearer challenge in a `WWW-Authenticate` value, which may list several schemes
    /// (RFC 9110 §11.6.1). Nothing usable gives an empty challenge: a 401 without one still
    /// means the token is missing or bad.
    pub fn parse(header: &str) -> Self {
        let Some(params) = bearer_params(header) else {
            return Self::default();
        };
        let mut params = params;
        Self {
            resource_metadata: params.remove("resource_metadata"),
            scope: params.remove("scope").filter(|s| !s.trim().is_empty()),
            error: params.remove("error"),
        }
    }

    pub fn insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// The auth-params after `Bearer`, up to the next scheme.
fn bearer_params(header: &str) -> Option<HashMap<String, String>> {
    let start = find_scheme(header, "bearer")?;
    let mut rest = &header[start + "bearer".len()..];
    let mut params = HashMap::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let Some(eq) = rest.find('=') else {
            break;
        };
        let name = rest[..eq].trim();
        // A bare token here is the next scheme (`Bearer a="b", Basic realm="x"`).
        if name.is_empty() || name.contains([' ', '\t']) {
            break;
        }
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let (v, after) = quoted_string(quoted)?;
            value = v;
            rest = after;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        params.insert(name.to_ascii_lowercase(), value);
    }
    Some(params)
}

/// Where the `scheme` token starts, matched case-insensitively (RFC 9110 §11.1).
fn find_scheme(header: &str, scheme: &str) -> Option<usize> {
    let lower = header.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(scheme) {
        let at = from + at;
        let before_ok =
            at == 0 || lower.as_bytes()[at - 1] == b' ' || lower.as_bytes()[at - 1] == b',';
        let after = lower.as_bytes().get(at + scheme.len());
        if before_ok && after.is_none_or(|b| *b == b' ') {
            return Some(at);
        }
        from = at + scheme.len();
    }
    None
}

/// A quoted-string's value (RFC 9110 §5.6.4) and what follows its closing quote.
fn quoted_string(input: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = input.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &input[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

impl Challenge {
    /// What the upstream answers an `initialize` without a token, sent as the pool would send
    /// it (the upstream's own headers and credentials, say for a gateway in front of it): its
    /// challenge on 401 or 403, else none (some servers protect only later requests).
    pub async fn probe<'a>(
        http: &Http,
        url: &Url,
        headers: impl Iterator<Item = (&'a String, &'a String)>,
    ) -> Self {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": { "name": "switchyard-gateway", "version": env!("CARGO_PKG_VERSION") }
            }
        });
        let mut request = http
            .client()
            .post(url.as_str())
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match http.send(request, "the upstream").await {
            Ok((status, headers, _)) if status == 401 || status == 403 => headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(Challenge::parse)
                .unwrap_or_default(),
            _ => Challenge::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parameters_mcp_servers_send() {
        let c = Challenge::parse(
            r#"Bearer error="insufficient_scope", scope="mcp:basic mcp:write", resource_metadata="http://localhost:1/.well-known/oauth-protected-resource/mcp""#,
        );
        assert_eq!(c.scope.as_deref(), Some("mcp:basic mcp:write"));
        assert!(c.insufficient_scope());
        assert_eq!(
            c.resource_metadata.as_deref(),
            Some("http://localhost:1/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn finds_bearer_among_other_schemes_and_unquoted_values() {
        let c = Challenge::parse(r#"Basic realm="x", bearer error=invalid_token, scope="a\"b""#);
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.scope.as_deref(), Some("a\"b"));
        let c = Challenge::parse(r#"Bearer realm="r", Basic realm="x""#);
        assert_eq!(c, Challenge::default());
    }

    #[test]
    fn nonsense_is_an_empty_challenge() {
        for header in [
            "",
            "Basic realm=\"x\"",
            "Bearer",
            "Bearer scope=\"open",
            "Bearerish x=1",
        ] {
            let c = Challenge::parse(header);
            assert_eq!(c.scope, None, "{header}");
            assert_eq!(c.resource_metadata, None, "{header}");
        }
    }
}
