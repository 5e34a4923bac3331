//! Approvals during an MCP tool call: the plugin's `ask` goes to the person at the
//! client that made the call, as a form elicitation, when the client supports it;
//! otherwise it is rejected with a message that says why and what an admin can do.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{ElicitationMode, Peer, RoleServer};

use crate::caps::approval::{Answer, Approver, printable};
use crate::caps::bindings::pincer::plugin::approval::Request;

/// The approver for a call from `peer`.
pub(super) fn for_peer(peer: &Peer<RoleServer>) -> Arc<dyn Approver> {
    if peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Form)
    {
        Arc::new(Eliciting {
            peer: peer.clone(),
            runtime: tokio::runtime::Handle::current(),
        })
    } else {
        Arc::new(CannotAsk)
    }
}

/// Asks the client's user through `elicitation/create`.
struct Eliciting {
    peer: Peer<RoleServer>,
    runtime: tokio::runtime::Handle,
}

/// The client cannot ask anyone.
struct CannotAsk;

impl Approver for CannotAsk {
    fn ask(&self, _plugin: &str, _request: &Request, _timeout: Duration) -> Option<Answer> {
        Some(Answer::Reject(
            "this MCP client cannot ask its user (it does not support elicitation); an admin can allow the action in policy.toml [approvals]".into(),
        ))
    }
}

/// The field of the form that carries the answer.
const APPROVE: &str = "approve";

impl Approver for Eliciting {
    fn ask(&self, plugin: &str, request: &Request, timeout: Duration) -> Option<Answer> {
        let mut message = format!(
            "Plugin {plugin} asks to `{}`: {}",
            printable(&request.action),
            printable(&request.summary)
        );
        if let Some(details) = &request.details {
            message.push_str("\n\n");
            message.push_str(&printable(details));
        }
        let schema = ElicitationSchema::builder()
            .required_bool_with(APPROVE, |b| {
                b.title("Approve")
                    .description("Let the plugin go ahead with this action")
            })
            .build()
            .expect("a one-field form is a valid elicitation schema");
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message,
            requested_schema: schema,
        };
        // Called on a blocking thread (see `ApprovalState`), so waiting here is fine.
        let answer = self.runtime.block_on(
            self.peer
                .create_elicitation_with_timeout(params, Some(timeout)),
        );
        match answer {
            Ok(result) => Some(match result.action {
                ElicitationAction::Accept
                    if result
                        .content
                        .as_ref()
                        .and_then(|c| c.get(APPROVE))
                        .and_then(|v| v.as_bool())
                        == Some(true) =>
                {
                    Answer::Approve
                }
                ElicitationAction::Accept => Answer::Reject("the user did not approve".into()),
                ElicitationAction::Decline => Answer::Reject("the user declined".into()),
                _ => Answer::Reject("the user dismissed the request".into()),
            }),
            Err(rmcp::ServiceError::Timeout { .. }) => None,
            Err(e) => Some(Answer::Reject(format!(
                "the client could not ask its user: {e}"
            ))),
        }
    }
}
