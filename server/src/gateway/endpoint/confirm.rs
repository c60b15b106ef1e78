//! Asking an MCP client's user to confirm a call that a tool rule allows only once the user
//! confirms (`confirm`). A session-era client that declared elicitation (MCP 2025-11-25
//! client/elicitation) is asked through the relay that carries an upstream's asks, so the
//! question rides the call's own response stream (SEP-2260) and is audited with the call.
//! Any answer but an explicit yes leaves the call unconfirmed, and the gateway refuses it
//! (audited as denied); so are calls from clients that cannot be asked: a 2026-07-28
//! client (its input-required rounds are for upstreams' questions) and one without
//! elicitation.

use rmcp::model::{
    ClientResult, ElicitRequest, ElicitRequestParams, ElicitationAction, ElicitationSchema,
    ServerRequest,
};
use rmcp::service::{Peer, RoleServer};
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::gateway::asks::{Ask, Message};
use crate::gateway::relay::Control;
use crate::gateway::rounds::Rounds;
use crate::gateway::{Caller, Gateway};

/// The most characters of a call's arguments the question shows.
const SHOWN_ARGUMENTS: usize = 500;

/// Whether the client behind `peer` can be asked during this call.
pub(super) fn can_ask(peer: &Peer<RoleServer>, control: &Control) -> bool {
    !matches!(control.rounds, Rounds::Repeated { .. })
        && control.asks.is_some()
        && peer
            .peer_info()
            .is_some_and(|info| info.capabilities.elicitation.is_some())
}

/// Asks the user whether to make the call when its rule wants confirmation, and marks
/// `control` confirmed on a yes. A call no rule asks about, or one the gateway refuses
/// anyway, is left as it is: the gateway gives the reason.
pub(super) async fn ask_user(
    gateway: &Gateway,
    caller: &Caller<'_>,
    name: &str,
    arguments: &Map<String, Value>,
    control: &mut Control,
) {
    let Some(asks) = control.asks.clone() else {
        return;
    };
    let Ok(Some(rule)) = gateway.confirmation_rule(caller, name, arguments).await else {
        return;
    };
    let Ok(requested_schema) = ElicitationSchema::builder()
        .required_bool("confirm")
        .build()
    else {
        return;
    };
    let mut shown: String = serde_json::to_string(arguments)
        .unwrap_or_default()
        .chars()
        .take(SHOWN_ARGUMENTS)
        .collect();
    if shown.len() >= SHOWN_ARGUMENTS {
        shown.push('…');
    }
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "Allow the call of `{name}` with {shown}? Rule `{rule}` allows it once you confirm."
        ),
        requested_schema,
    };
    let (answer, answered) = oneshot::channel();
    let ask = Ask {
        upstream: Uuid::nil(),
        request: ServerRequest::ElicitRequest(ElicitRequest::new(params)),
        answer,
    };
    if asks.send(Message::Ask(ask)).is_err() {
        return;
    }
    if let Ok(Ok(ClientResult::ElicitResult(result))) = answered.await
        && result.action == ElicitationAction::Accept
        && result.content.as_ref().and_then(|c| c.get("confirm")) == Some(&Value::Bool(true))
    {
        control.confirmed = true;
    }
}
