//! Which scopes to ask an upstream's authorization server for (MCP 2025-11-25
//! §Scope Selection Strategy and §Scope Challenge Handling).

use app::api::{OAuthGrant, UpstreamOAuth};

use super::discovery::Discovered;
use super::{Challenge, Sealed, UpstreamAuthError};
use crate::store::UpstreamOAuthRow;

/// The scope to ask for (MCP 2025-11-25 §Scope Selection Strategy): the administrator's, else
/// the challenge's, else all the resource metadata lists, else none; on step-up, with what
/// was granted before. `offline_access` is added where the server lists it (SEP-2207), for
/// a refresh token. A step-up that would ask for nothing new is refused: the upstream
/// already refused a token with every scope it names, and asking again would loop.
pub(super) fn choose_scope(
    oauth: &UpstreamOAuth,
    challenge: &Challenge,
    row: &UpstreamOAuthRow,
    sealed: &Sealed,
    found: &Discovered,
) -> Result<Option<String>, UpstreamAuthError> {
    let mut scopes: Vec<String> = Vec::new();
    let mut add = |list: &str| {
        for s in list.split(' ').filter(|s| !s.is_empty()) {
            if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_string());
            }
        }
    };
    if let Some(own) = &oauth.scope {
        add(own);
    } else if let Some(required) = &row.required_scope {
        let granted = row.scope.as_deref().unwrap_or("");
        let nothing_new = required
            .split(' ')
            .all(|r| granted.split(' ').any(|g| g == r));
        if nothing_new && sealed.access_token.is_some() {
            return Err(UpstreamAuthError::Refused(format!(
                "the upstream refused a token that holds every scope it asks for ({required}); \
                 authorizing again would ask for nothing new"
            )));
        }
        add(granted);
        add(required);
    } else if let Some(from_challenge) = &challenge.scope {
        add(from_challenge);
    } else {
        add(&found.resource_scopes.join(" "));
    }
    if oauth.grant == OAuthGrant::AuthorizationCode
        && found.server_scopes.iter().any(|s| s == "offline_access")
    {
        add("offline_access");
    }
    Ok((!scopes.is_empty()).then(|| scopes.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(resource_scopes: &[&str], server_scopes: &[&str]) -> Discovered {
        Discovered {
            resource: "https://up.example/mcp".into(),
            issuer: None,
            authorization_endpoint: "https://as.example/authorize".into(),
            token_endpoint: "https://as.example/token".into(),
            registration_endpoint: None,
            resource_scopes: resource_scopes.iter().map(|s| s.to_string()).collect(),
            server_scopes: server_scopes.iter().map(|s| s.to_string()).collect(),
            auth_methods: vec![],
            client_id_metadata_documents: false,
            iss_parameter: false,
        }
    }

    fn challenge(scope: Option<&str>) -> Challenge {
        Challenge {
            scope: scope.map(str::to_string),
            ..Challenge::default()
        }
    }

    fn pick(
        oauth: &UpstreamOAuth,
        ch: &Challenge,
        row: &UpstreamOAuthRow,
        sealed: &Sealed,
        found: &Discovered,
    ) -> Option<String> {
        choose_scope(oauth, ch, row, sealed, found).unwrap()
    }

    #[test]
    fn scopes_come_from_the_challenge_else_the_metadata_else_none() {
        let (oauth, row, sealed) = (
            UpstreamOAuth::default(),
            UpstreamOAuthRow::default(),
            Sealed::default(),
        );
        let f = found(&["a", "b"], &[]);
        assert_eq!(
            pick(&oauth, &challenge(Some("x")), &row, &sealed, &f).as_deref(),
            Some("x")
        );
        assert_eq!(
            pick(&oauth, &challenge(None), &row, &sealed, &f).as_deref(),
            Some("a b")
        );
        assert_eq!(
            pick(&oauth, &challenge(None), &row, &sealed, &found(&[], &[])),
            None
        );
        // offline_access where the server offers it, for the code grant only.
        let f = found(&["a"], &["a", "offline_access"]);
        assert_eq!(
            pick(&oauth, &challenge(None), &row, &sealed, &f).as_deref(),
            Some("a offline_access")
        );
        let machine = UpstreamOAuth {
            grant: OAuthGrant::ClientCredentials,
            ..Default::default()
        };
        assert_eq!(
            pick(&machine, &challenge(None), &row, &sealed, &f).as_deref(),
            Some("a")
        );
        // The administrator's choice wins.
        let own = UpstreamOAuth {
            scope: Some("mine".into()),
            ..Default::default()
        };
        assert_eq!(
            pick(&own, &challenge(Some("x")), &row, &sealed, &found(&[], &[])).as_deref(),
            Some("mine")
        );
    }

    #[test]
    fn step_up_adds_what_was_asked_and_refuses_to_ask_for_nothing_new() {
        let oauth = UpstreamOAuth::default();
        let row = UpstreamOAuthRow {
            scope: Some("basic".into()),
            required_scope: Some("basic write".into()),
            ..Default::default()
        };
        let held = Sealed {
            access_token: Some("t".into()),
            ..Default::default()
        };
        let f = found(&["basic"], &[]);
        assert_eq!(
            pick(&oauth, &challenge(None), &row, &held, &f).as_deref(),
            Some("basic write")
        );
        let granted_all = UpstreamOAuthRow {
            scope: Some("basic write".into()),
            ..row.clone()
        };
        assert!(matches!(
            choose_scope(&oauth, &challenge(None), &granted_all, &held, &f),
            Err(UpstreamAuthError::Refused(_))
        ));
        // Without a token (a 401 dropped it), authorizing again is the way back.
        let dropped = Sealed::default();
        assert_eq!(
            pick(&oauth, &challenge(None), &granted_all, &dropped, &f).as_deref(),
            Some("basic write")
        );
    }
}
