//! Approvals during an MCP tool call: the plugin's `ask` goes to the person at the
//! client that made the call, as a form elicitation, when the client supports it;
//! otherwise it is rejected with a message that says why and what an admin can do.
//!
//! The plugin asks from a blocking thread (see `ApprovalState`); the question is sent
//! from the call's own handler task ([`Questions::ask_next`]), so that rmcp sends it on
//! the stream of the `tools/call` that caused it (Streamable HTTP answers a POST on its
//! own SSE stream), and a cancelled call withdraws its question at once.

pub(super) mod mrtr;

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest,
};
use rmcp::service::{ElicitationMode, Peer, RoleServer, ServiceError};
use rmcp::task_manager::{TaskContext, TaskManager};
use tokio::sync::{mpsc, oneshot};

use crate::caps::approval::{Answer, Approver};
use crate::caps::bindings::pincer::plugin::approval::Request;
use crate::text::printable;

/// The longest summary and details shown, in characters: a plugin cannot push the
/// host's line out of view.
const MAX_SHOWN: usize = 1000;

/// A question of the plugin's: the form, how long to wait, and where the answer goes.
pub(super) type Question = (
    ElicitRequestParams,
    Duration,
    oneshot::Sender<Result<ElicitResult, ServiceError>>,
);

/// The questions one call's plugin asks, to be sent by the call's handler task.
pub(super) struct Questions(mpsc::UnboundedReceiver<Question>);

impl Questions {
    /// Send the next question to the client and pass its answer back to the plugin.
    /// Pending forever when the plugin asks nothing more.
    pub(super) async fn ask_next(&mut self, peer: &Peer<RoleServer>) {
        let Some((params, timeout, reply)) = self.0.recv().await else {
            return std::future::pending().await;
        };
        let answer = peer
            .create_elicitation_with_timeout(params, Some(timeout))
            .await;
        let _ = reply.send(answer);
    }
}

impl Questions {
    /// The questions of an approver that asks none ([`CannotAsk`]).
    pub(super) fn none() -> Self {
        Questions(mpsc::unbounded_channel().1)
    }

    /// The next question the plugin asks; pending forever when it asks nothing more.
    pub(super) async fn next(&mut self) -> Question {
        match self.0.recv().await {
            Some(question) => question,
            None => std::future::pending().await,
        }
    }
}

/// Put `question` to the client of a task as its input request `key`
/// (`input_required` in `tasks/get`, answered by `tasks/update`), and pass the answer
/// back to the plugin. No answer within the question's timeout is a timeout, as for
/// any approver; a cancelled task withdraws the question.
pub(super) async fn answer_in_task(
    question: Question,
    key: String,
    task: &TaskContext,
    tasks: &TaskManager,
) {
    let (params, timeout, reply) = question;
    let request = InputRequest::Elicitation(ElicitRequest::new(params));
    let asked = task.request_input(key.clone(), request);
    let answer = match tokio::time::timeout(timeout, asked).await {
        Err(_) => {
            // Withdraw the question, so that the task is `working` again: an answer
            // to a key no one waits for is ignored (and this one is dropped).
            let _ = tasks.update_task(task.task_id(), [(key, serde_json::Value::Null)]);
            Err(ServiceError::Timeout { timeout })
        }
        Ok(Err(_)) => Err(ServiceError::Cancelled {
            reason: Some("the task was cancelled".into()),
        }),
        Ok(Ok(value)) => serde_json::from_value::<ElicitResult>(value).map_err(|e| {
            ServiceError::McpError(rmcp::ErrorData::invalid_params(
                format!("the answer is not an elicitation result: {e}"),
                None,
            ))
        }),
    };
    let _ = reply.send(answer);
}

/// Answer `question` with a refusal that says `why`, without asking anyone.
pub(super) fn refuse(question: Question, why: &str) {
    let (_, _, reply) = question;
    let _ = reply.send(Err(ServiceError::McpError(
        rmcp::ErrorData::internal_error(why.to_owned(), None),
    )));
}

/// Whether the client of a 2026-07-28 request can ask its user a form: it declared
/// form elicitation (or elicitation without modes, which means form).
pub(super) fn client_can_ask(context: &rmcp::service::RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

/// An approver that asks by form, and the questions it will ask: for a client that
/// declared form elicitation, whose questions the caller puts to it.
pub(super) fn eliciting() -> (Arc<dyn Approver>, Questions) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(Eliciting(tx)), Questions(rx))
}

/// The approver for a call from `peer`, and the questions it will ask (a client of a
/// revision with server-sent requests; see [`mrtr`] for the others).
pub(super) fn for_peer(peer: &Peer<RoleServer>) -> (Arc<dyn Approver>, Questions) {
    let (tx, rx) = mpsc::unbounded_channel();
    let approver: Arc<dyn Approver> = if peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Form)
    {
        Arc::new(Eliciting(tx))
    } else {
        Arc::new(CannotAsk)
    };
    (approver, Questions(rx))
}

/// Asks the client's user through `elicitation/create`.
struct Eliciting(mpsc::UnboundedSender<Question>);

/// The client cannot ask anyone.
pub(super) struct CannotAsk;

impl Approver for CannotAsk {
    fn ask(&self, _plugin: &str, _request: &Request, _timeout: Duration) -> Option<Answer> {
        Some(Answer::Reject(
            "this MCP client cannot ask its user (it does not support elicitation); an admin can allow the action in policy.toml [approvals]".into(),
        ))
    }
}

/// The field of the form that carries the answer.
const APPROVE: &str = "approve";

/// `s` as shown to a person ([`printable`]), at most [`MAX_SHOWN`] characters.
fn shown(s: &str) -> String {
    let escaped = printable(s);
    match escaped.char_indices().nth(MAX_SHOWN) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped,
    }
}

/// The form that asks a person about `request` of `plugin`: the host writes the
/// message and the field's title around the plugin's text, shown escaped.
fn form(plugin: &str, request: &Request) -> ElicitRequestParams {
    let mut message = format!(
        "Plugin {plugin} asks to `{}`: {}",
        shown(&request.action),
        shown(&request.summary)
    );
    if let Some(details) = &request.details {
        message.push_str("\n\n");
        message.push_str(&shown(details));
    }
    // The host writes the field's title; the plugin cannot.
    let title = format!("Allow {plugin} to `{}`?", shown(&request.action));
    let schema = ElicitationSchema::builder()
        .required_bool_with(APPROVE, |b| {
            b.title(title)
                .description("Let the plugin go ahead with this action")
        })
        .build()
        .expect("a one-field form is a valid elicitation schema");
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema: schema,
    }
}

/// A person's answer to [`form`].
fn answer_of(result: &ElicitResult) -> Answer {
    match result.action {
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
    }
}

impl Approver for Eliciting {
    fn ask(&self, plugin: &str, request: &Request, timeout: Duration) -> Option<Answer> {
        let (reply, answer) = oneshot::channel();
        if self
            .0
            .send((form(plugin, request), timeout, reply))
            .is_err()
        {
            return Some(Answer::Reject(
                "the call ended before anyone answered".into(),
            ));
        }
        // A blocking thread: waiting here is fine. A cancelled call drops the sender.
        match answer.blocking_recv() {
            Ok(Ok(result)) => Some(answer_of(&result)),
            Ok(Err(ServiceError::Timeout { .. })) => None,
            Ok(Err(e)) => Some(Answer::Reject(format!(
                "the client could not ask its user: {e}"
            ))),
            Err(_) => Some(Answer::Reject("the call was cancelled".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn invisible_and_direction_characters_are_shown_escaped() {
        assert_eq!(shown("ok\u{202E}evil"), "ok\\u{202E}evil");
        assert_eq!(shown("a\u{2028}b\u{200B}"), "a\\u{2028}b\\u{200B}");
        assert_eq!(shown("line\nbreak"), "line\\nbreak");
        assert!(shown(&"x".repeat(5000)).chars().count() <= super::MAX_SHOWN + 1);
    }
}
