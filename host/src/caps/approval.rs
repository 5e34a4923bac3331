//! The approval capability: actions a plugin asks a human to approve.
//!
//! This module owns the `[capabilities.approval]` manifest section, the [`Approver`]
//! that a front end provides (a terminal prompt for the command line; the gateway and
//! MCP servers bring their own), and the host side of `pincer:plugin/approval`. The
//! admin's policy answers first (`allow`, `deny` or `ask`, per plugin, tool or action);
//! `ask` waits for a person, never past the call's deadline, and no answer means
//! rejected. Every request and answer is audited (at most 30 of each a minute per
//! plugin; the rest are counted into one `audit-suppressed` record). A request's text is shown to a person
//! and audited, so any secret value in it is redacted first.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use wasmtime::component::{HasData, Linker};

use super::bindings::pincer::plugin::approval::{self as wit, Decision, Error, Host, Request};
use super::redact::Place;
use super::{CapsView, LoadContext, View};
use crate::audit::Event;
use crate::policy::grants::GrantSet;
use crate::policy::{ApprovalPolicy, ApprovalRule};
use crate::text::printable;

use crate::manifest::Invalid;

/// The `[capabilities.approval]` section: the action names a plugin may ask about. By
/// default (no section) none.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalGrant {
    /// The action names, such as `send-email`.
    pub actions: Vec<Spanned<String>>,
}

impl ApprovalGrant {
    /// Check the section on its own: action names well-formed and unique.
    pub fn validate(&self) -> Result<(), Invalid> {
        crate::caps::names::check_names(&self.actions, "approval action")
    }
}

/// A person's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Yes.
    Approve,
    /// No, with the reason shown to the plugin.
    Reject(String),
}

/// Whoever answers `ask` requests: the front end's way to reach a person.
pub trait Approver: Send + Sync {
    /// Ask about `request` of `plugin`; `None` if nobody answered within `timeout`.
    fn ask(&self, plugin: &str, request: &Request, timeout: Duration) -> Option<Answer>;
}

/// The approver when the front end has none: rejects at once, saying why.
pub struct NoApprover;

impl Approver for NoApprover {
    fn ask(&self, _: &str, _: &Request, _: Duration) -> Option<Answer> {
        Some(Answer::Reject(
            "nobody can be asked here (no approver); an admin can allow this action in policy.toml [approvals]".into(),
        ))
    }
}

/// Asks on the terminal (stderr for the question, stdin for the answer). Without a
/// terminal it rejects at once.
pub struct TerminalApprover;

impl Approver for TerminalApprover {
    fn ask(&self, plugin: &str, request: &Request, timeout: Duration) -> Option<Answer> {
        if !std::io::stdin().is_terminal() {
            return NoApprover.ask(plugin, request, timeout);
        }
        // The plugin wrote these: show control characters escaped, so no escape
        // sequence or carriage return can change the question on the terminal.
        let mut question = format!(
            "\nplugin {plugin} asks to `{}`: {}\n",
            printable(&request.action),
            printable(&request.summary)
        );
        if let Some(details) = &request.details {
            question.push_str(&format!("  {}\n", printable(details)));
        }
        question.push_str(&format!("Approve? [y/N] ({} s) ", timeout.as_secs()));
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let (tx, rx) = std::sync::mpsc::channel();
        // The read may outlive the timeout; the thread then ends with the process.
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(timeout).ok()?;
        Some(match line.trim() {
            "y" | "Y" | "yes" => Answer::Approve,
            _ => Answer::Reject("a person said no".into()),
        })
    }
}

/// What one instance may ask: its plugin's declared actions, under the admin's policy.
#[derive(Clone)]
pub struct ApprovalState {
    actions: Arc<[String]>,
    policy: Arc<ApprovalPolicy>,
    /// Who answers `ask`: the runtime's approver, or the one a call brought.
    pub(crate) approver: Arc<dyn Approver>,
}

impl ApprovalState {
    /// The state of the plugin in `load`, which may ask about the actions of its
    /// `grants`, under the admin's approval rules for it. With no actions every request
    /// is denied.
    pub fn new(grants: &GrantSet, load: &LoadContext<'_>) -> Self {
        ApprovalState {
            actions: grants.approval_actions.clone().into(),
            policy: Arc::new(
                load.policy
                    .approvals
                    .get(&**load.plugin)
                    .cloned()
                    .unwrap_or_default(),
            ),
            approver: load.approver.clone(),
        }
    }
}

struct HasApproval;

impl HasData for HasApproval {
    type Data<'a> = View<'a, ApprovalState>;
}

/// Link `pincer:plugin/approval`.
pub fn add_to_linker<T: CapsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasApproval>(linker, |t| {
        let caps = t.caps().caps;
        View {
            call: &caps.call,
            state: &mut caps.approval,
        }
    })
}

impl View<'_, ApprovalState> {
    fn audit(&self, event: Event, details: serde_json::Value) {
        let plugin = &self.call.plugin;
        // A plugin may ask in a loop (answered by policy at once): bounded per plugin.
        if let Err(e) = self
            .call
            .audit
            .record_limited("host", event, Some(plugin), details)
        {
            tracing::error!(plugin = %plugin, "cannot audit an approval: {e}");
        }
    }
}

impl Host for View<'_, ApprovalState> {
    async fn ask(&mut self, mut request: Request) -> Result<Decision, Error> {
        if !self.state.actions.contains(&request.action) {
            return Err(Error::Denied(self.call.denials.note(format!(
                "action `{}` is not declared; add it to the manifest: [capabilities.approval] actions = [\"{}\"]",
                request.action, request.action
            ))));
        }
        // The person and the audit trail see the text without secret values.
        self.call
            .redact
            .string(&mut request.summary, Place::Approval);
        self.call
            .redact
            .option(&mut request.details, Place::Approval);
        let tool = self.call.tool.as_deref();
        let rule = self.state.policy.rule(&request.action, tool);
        self.audit(
            Event::ApprovalRequest,
            serde_json::json!({
                "action": request.action,
                "summary": crate::audit::clipped(&request.summary, 512),
                "tool": tool,
                "rule": rule,
            }),
        );
        let (decision, how) = match rule {
            ApprovalRule::Allow => (Decision::Approved, "allowed by policy".to_owned()),
            ApprovalRule::Deny => (
                Decision::Rejected(format!(
                    "the admin's policy denies `{}` for this plugin",
                    request.action
                )),
                "denied by policy".to_owned(),
            ),
            ApprovalRule::Ask => {
                // Never wait past the point where the plugin could no longer act on
                // the answer.
                let left = self.call.clock.wait_left();
                let clipped = left < self.state.policy.timeout();
                let timeout = self.state.policy.timeout().min(left);
                // The approver may block (a terminal read): run it off the runtime's
                // threads, and stop waiting at the timeout whatever it does.
                let (approver, plugin, asked) = (
                    self.state.approver.clone(),
                    self.call.plugin.clone(),
                    request.clone(),
                );
                let answer = tokio::time::timeout(
                    timeout,
                    tokio::task::spawn_blocking(move || approver.ask(&plugin, &asked, timeout)),
                )
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
                match answer {
                    Some(Answer::Approve) => (Decision::Approved, "approved by a person".into()),
                    Some(Answer::Reject(why)) => {
                        (Decision::Rejected(why.clone()), format!("rejected: {why}"))
                    }
                    None if clipped => (
                        Decision::Rejected(format!(
                            "no answer before the call's time limit ({} ms) ran short, so it is denied",
                            self.call.clock.limit.as_millis()
                        )),
                        "timed out (the call's time limit)".into(),
                    ),
                    None => (
                        Decision::Rejected(format!(
                            "no answer within {} s, so it is denied",
                            timeout.as_secs_f64().ceil() as u64
                        )),
                        "timed out".into(),
                    ),
                }
            }
        };
        self.audit(
            Event::ApprovalAnswer,
            serde_json::json!({
                "action": request.action,
                "approved": matches!(decision, Decision::Approved),
                "how": how,
            }),
        );
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::InstanceCaps;
    use crate::caps::testing::{Fixture, PLUGIN, block_on};

    const GRANT: &str = "[capabilities.approval]\nactions = [\"send-email\", \"delete\"]\n";

    fn request(action: &str, summary: &str) -> Request {
        Request {
            action: action.into(),
            summary: summary.into(),
            details: None,
        }
    }

    fn ask(caps: &mut InstanceCaps, request: Request) -> Result<Decision, Error> {
        let mut view = View {
            call: &caps.call,
            state: &mut caps.approval,
        };
        block_on(view.ask(request))
    }

    fn policy(rules: &str) -> Fixture {
        Fixture::with_policy(&format!("[approvals.\"{PLUGIN}\"]\n{rules}"))
    }

    #[test]
    fn the_policy_allows_or_denies_by_action_and_by_tool_and_every_answer_is_audited() {
        let f = policy("actions = { delete = \"deny\" }\ntools = { mail = \"allow\" }\n");
        let mut caps = f.instance(GRANT);
        caps.for_tool("mail", None);
        assert!(matches!(
            ask(&mut caps, request("send-email", "to ada")).unwrap(),
            Decision::Approved
        ));
        match ask(&mut caps, request("delete", "all notes")).unwrap() {
            Decision::Rejected(why) => assert!(why.contains("policy denies `delete`"), "{why}"),
            other => panic!("expected a rejection, got {other:?}"),
        }
        let answers = f.records("approval-answer");
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0]["details"]["how"], "allowed by policy");
        assert_eq!(f.records("approval-request")[0]["details"]["tool"], "mail");
    }

    #[test]
    fn an_undeclared_action_is_denied_naming_the_manifest_line_and_nobody_is_asked() {
        let f = policy("default = \"allow\"\n");
        let mut caps = f.instance(GRANT);
        match ask(&mut caps, request("wire-money", "10k")) {
            Err(Error::Denied(why)) => assert!(
                why.contains("[capabilities.approval] actions = [\"wire-money\"]"),
                "{why}"
            ),
            other => panic!("expected a denial, got {other:?}"),
        }
        assert!(f.records("approval-request").is_empty());
    }

    #[test]
    fn with_nobody_to_ask_a_request_is_rejected_at_once_saying_why() {
        let f = Fixture::new();
        let mut caps = f.instance(GRANT);
        match ask(&mut caps, request("send-email", "to ada")).unwrap() {
            Decision::Rejected(why) => assert!(why.contains("no approver"), "{why}"),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn a_person_is_asked_with_the_secret_values_in_the_request_redacted() {
        struct Records(std::sync::Mutex<Vec<String>>);
        impl Approver for Records {
            fn ask(&self, _: &str, request: &Request, _: Duration) -> Option<Answer> {
                self.0.lock().unwrap().push(request.summary.clone());
                Some(Answer::Approve)
            }
        }
        let f = Fixture::new();
        f.vault.set(PLUGIN, "token", b"tok-secret-99").unwrap();
        let mut caps = f.instance(&format!(
            "{GRANT}[capabilities.secrets]\nnames = [\"token\"]\n"
        ));
        let person = Arc::new(Records(Default::default()));
        caps.for_tool("mail", Some(person.clone()));
        let decision = ask(
            &mut caps,
            request("send-email", "with tok-secret-99 attached"),
        );
        assert!(matches!(decision.unwrap(), Decision::Approved));
        assert_eq!(
            *person.0.lock().unwrap(),
            ["with [redacted:token] attached"]
        );
        let audited = f.records("approval-request");
        assert!(!audited[0].to_string().contains("tok-secret-99"));
    }
}
