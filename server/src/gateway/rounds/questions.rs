//! The questions an upstream asks (SEP-2322 input requests): their kinds, and whether a
//! 2026-07-28 caller declared it takes them.

use rmcp::model::{ClientCapabilities, InputRequest, InputRequests};

use super::RoundsError;

pub(super) fn noun(request: &InputRequest) -> &'static str {
    match request {
        InputRequest::CreateMessage(_) => "sampling",
        InputRequest::Elicitation(_) => "elicitation",
        InputRequest::ListRoots(_) => "roots",
        _ => "input",
    }
}

/// The kinds of question asked, for messages and the audit record (`elicitation, sampling`).
pub fn kinds(requests: &InputRequests) -> String {
    let mut kinds: Vec<&str> = requests.values().map(noun).collect();
    kinds.sort_unstable();
    kinds.dedup();
    if kinds.is_empty() {
        return "a repeated request".into();
    }
    kinds.join(", ")
}

/// A 2026-07-28 caller is only given questions it declared it takes (MCP 2026-07-28
/// client capabilities travel in each request's `_meta`); otherwise -32021 names them.
#[allow(deprecated)] // sampling: still a 2026-07-28 capability, deprecated by SEP-2577
pub(super) fn check_declared(
    declared: &ClientCapabilities,
    requests: &InputRequests,
) -> Result<(), RoundsError> {
    let mut missing = ClientCapabilities::default();
    let mut names = Vec::new();
    for request in requests.values() {
        match request {
            InputRequest::CreateMessage(_) if declared.sampling.is_none() => {
                missing.sampling = Some(Default::default());
                names.push("sampling");
            }
            InputRequest::Elicitation(_) if declared.elicitation.is_none() => {
                missing.elicitation = Some(Default::default());
                names.push("elicitation");
            }
            InputRequest::ListRoots(_) if declared.roots.is_none() => {
                missing.roots = Some(Default::default());
                names.push("roots");
            }
            _ => {}
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    names.sort_unstable();
    names.dedup();
    Err(RoundsError::Undeclared(names.join(", "), Box::new(missing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn only_declared_questions_are_passed_on() {
        let requests: InputRequests = serde_json::from_value(serde_json::json!({
            "confirm": { "method": "elicitation/create", "params": {
                "message": "Sure?", "requestedSchema": { "type": "object", "properties": {} } } }
        }))
        .unwrap();
        let none = ClientCapabilities::default();
        match check_declared(&none, &requests) {
            Err(RoundsError::Undeclared(names, missing)) => {
                assert_eq!(names, "elicitation");
                assert!(missing.elicitation.is_some() && missing.sampling.is_none());
            }
            other => panic!("expected undeclared elicitation, got {other:?}"),
        }
        let elicits = ClientCapabilities::builder().enable_elicitation().build();
        assert!(check_declared(&elicits, &requests).is_ok());
        assert_eq!(kinds(&requests), "elicitation");
    }
}
