//! Approvals for clients of MCP 2026-07-28, to which a server no longer sends requests
//! of its own: multi round-trip requests (SEP-2322).
//!
//! When the plugin asks a question that the call has no answer for, the call ends (its
//! instance is dropped, as a cancelled call's is) and the client gets an
//! `input_required` result: the question as a form elicitation, and a `requestState`
//! that the client echoes back when it retries the call with the person's answer. The
//! retried call runs the plugin again from the start, and when the plugin asks the
//! same question it gets that answer. What the plugin did before it asked happens again
//! on the retry; the approval policy, the audit records (`approval-request` at each
//! round, `approval-answer` once answered) and the limits are those of any call.
//!
//! The client holds the state, so the state is untrusted input. It is sealed with
//! HMAC-SHA256 under a key of this process (rmcp's `RequestStateCodec`), bound to the
//! plugin and its component's digest, the tool as served and a digest of the arguments
//! (a state is refused for any other call, and for the plugin once updated), carries
//! the answers so far in the order the plugin asked, and expires when the approval
//! policy's timeout for a person's answer runs out (at most [`STATE_TTL`]). Each state
//! opens once: a replay is refused. Within a round each answer is used once, by the
//! ask in its place: a plugin that asks the same question again gets a new question
//! to the person, never the earlier yes. Each round runs the plugin from the start,
//! so what an approved action does is done again in every later round of the call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, InputRequest, InputRequests,
    InputRequiredResult, InputResponses, RequestStateCodec, SealOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{answer_of, form};
use crate::caps::approval::{Answer, Approver};
use crate::caps::bindings::pincer::plugin::approval::Request;
use crate::digest::sha256_hex;

/// The longest a client has to answer a question and retry, whatever the policy's
/// timeout.
pub const STATE_TTL: Duration = Duration::from_secs(600);

/// The most questions one call may ask across its rounds.
pub const MAX_QUESTIONS: usize = 8;

/// The key of the question in `inputRequests` and of its answer in `inputResponses`.
pub const KEY: &str = "approval";

/// Why a retried call's `requestState` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Forged, changed, expired, from another server process or for another call.
    #[error(
        "the requestState is not valid for this call (changed, expired, or issued for another call or by another server); call the tool again without it"
    )]
    Invalid,
    /// Used already.
    #[error(
        "the requestState was used already; each answer counts for one retry, so call the tool again without it"
    )]
    Replayed,
    /// The retry carries no answer to the question.
    #[error("the retry carries no answer to the question `{KEY}`; answer it in inputResponses")]
    NoAnswer,
    /// The answer is not an elicitation result.
    #[error("the answer to `{KEY}` is not an elicitation result: {0}")]
    BadAnswer(String),
}

/// What the client's state carries.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// Opens once.
    nonce: String,
    /// The questions answered so far, by digest, and whether the person approved.
    answered: Vec<(String, bool)>,
    /// The question the client is asked now, by digest.
    asking: String,
}

/// The states a server issued: the key they are sealed under, and the ones redeemed.
pub struct States {
    codec: RequestStateCodec,
    redeemed: Mutex<HashMap<String, Instant>>,
}

impl States {
    /// States sealed under a fresh random key: only this process opens them.
    pub fn new() -> Self {
        let key: [u8; 32] = rand::random();
        States {
            codec: RequestStateCodec::try_new(key.to_vec()).expect("a 32-byte key"),
            redeemed: Mutex::new(HashMap::new()),
        }
    }

    /// Open the state that a retried call echoes, with the client's `responses`, for
    /// the call that `binding` names: the answers the call has.
    pub fn redeem(
        &self,
        sealed: &str,
        responses: Option<&InputResponses>,
        binding: &[u8],
    ) -> Result<Vec<(String, bool)>, Refused> {
        let state: State = self
            .codec
            .open_json_with(sealed, binding)
            .map_err(|_| Refused::Invalid)?;
        let response = responses
            .and_then(|r| r.get(KEY))
            .ok_or(Refused::NoAnswer)?;
        let result: ElicitResult = serde_json::from_value(response.clone())
            .map_err(|e| Refused::BadAnswer(e.to_string()))?;
        {
            let mut redeemed = self.redeemed.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            redeemed.retain(|_, expires| *expires > now);
            if redeemed.contains_key(&state.nonce) {
                return Err(Refused::Replayed);
            }
            redeemed.insert(state.nonce, now + STATE_TTL);
        }
        let mut answered = state.answered;
        answered.push((state.asking, matches!(answer_of(&result), Answer::Approve)));
        Ok(answered)
    }

    /// The result that asks the client `question` (by its `digest`) for the call that
    /// `binding` names, which has the `answered` answers so far.
    pub fn ask(
        &self,
        question: ElicitRequestParams,
        digest: String,
        answered: Vec<(String, bool)>,
        ttl: Duration,
        binding: &[u8],
    ) -> InputRequiredResult {
        let nonce: [u8; 16] = rand::random();
        let state = State {
            nonce: hex::encode(nonce),
            answered,
            asking: digest,
        };
        let sealed = self
            .codec
            .seal_json_with(
                &state,
                &SealOptions::new()
                    .associated_data(binding)
                    .ttl(ttl.min(STATE_TTL)),
            )
            .expect("the state serialises");
        let mut requests = InputRequests::new();
        requests.insert(
            KEY.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(question)),
        );
        InputRequiredResult::new(Some(requests), Some(sealed))
    }
}

impl Default for States {
    fn default() -> Self {
        States::new()
    }
}

/// What a state is bound to: the plugin and its component's digest (an update between
/// rounds invalidates the answers), the tool as served, and the arguments.
pub fn binding(
    plugin: &str,
    component: &str,
    served_as: &str,
    arguments: &serde_json::Value,
) -> Vec<u8> {
    format!(
        "pincer-mrtr-1\0{plugin}\0{component}\0{served_as}\0{}",
        sha256_hex(canonical(arguments).as_bytes())
    )
    .into_bytes()
}

/// `value` as JSON with every object's keys sorted: the same arguments give the same
/// text whatever order the client sent them in.
fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.clone()),
                        canonical(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}

/// The digest of a question as the plugin asks it: action, summary and details.
pub fn question_digest(request: &Request) -> String {
    sha256_hex(
        serde_json::json!([request.action, request.summary, request.details])
            .to_string()
            .as_bytes(),
    )
}

/// A question the call has no answer for (the form, its digest, how long the policy
/// lets a person take), on its way to the handler, which ends the call and asks the
/// client.
pub type Unanswered = (ElicitRequestParams, String, Duration, oneshot::Sender<()>);

/// The approver of one round of a call: it answers the questions answered in earlier
/// rounds, each answer once and only for the ask in its place, and hands the handler
/// the first one that has none.
pub struct Answering {
    answered: Vec<(String, bool)>,
    /// How many of `answered` this round has used.
    used: Mutex<usize>,
    unanswered: mpsc::UnboundedSender<Unanswered>,
}

impl Answering {
    /// The approver for a round that has the `answered` answers, and where it sends
    /// a question without one.
    pub fn round(
        answered: Vec<(String, bool)>,
    ) -> (Arc<dyn Approver>, mpsc::UnboundedReceiver<Unanswered>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Answering {
                answered,
                used: Mutex::new(0),
                unanswered: tx,
            }),
            rx,
        )
    }
}

impl Approver for Answering {
    fn ask(&self, plugin: &str, request: &Request, timeout: Duration) -> Option<Answer> {
        let digest = question_digest(request);
        {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            // The next answer belongs to this ask only if it answered this question.
            if let Some((asked, approved)) = self.answered.get(*used)
                && *asked == digest
            {
                *used += 1;
                return Some(if *approved {
                    Answer::Approve
                } else {
                    Answer::Reject("the user did not approve".into())
                });
            }
            // The plugin asks something else than it did before this point.
            if *used < self.answered.len() {
                return Some(Answer::Reject(
                    "the plugin asked other questions on this retry than before; call the tool again".into(),
                ));
            }
        }
        if self.answered.len() >= MAX_QUESTIONS {
            return Some(Answer::Reject(format!(
                "the plugin asked more than {MAX_QUESTIONS} questions in one call"
            )));
        }
        let (ended, end) = oneshot::channel();
        if self
            .unanswered
            .send((form(plugin, request), digest, timeout, ended))
            .is_err()
        {
            return Some(Answer::Reject(
                "the call ended before anyone answered".into(),
            ));
        }
        // The handler ends the call now; this blocking thread only waits for that.
        let _ = end.blocking_recv();
        Some(Answer::Reject(
            "the call ended to ask the client's user".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approve() -> InputResponses {
        let mut responses = InputResponses::new();
        responses.insert(
            KEY.into(),
            serde_json::json!({ "action": "accept", "content": { "approve": true } }),
        );
        responses
    }

    fn question() -> ElicitRequestParams {
        form(
            "com.example.p",
            &Request {
                action: "send".into(),
                summary: "to ada".into(),
                details: None,
            },
        )
    }

    fn sealed(states: &States, binding: &[u8]) -> String {
        states
            .ask(question(), "q1".into(), Vec::new(), STATE_TTL, binding)
            .request_state
            .expect("a state")
    }

    fn call(plugin: &str, component: &str, tool: &str, to: &str) -> Vec<u8> {
        binding(plugin, component, tool, &serde_json::json!({ "to": to }))
    }

    #[test]
    fn a_state_opens_once_for_its_own_call_with_the_answer() {
        let states = States::new();
        let call = call("com.example.p", "c1", "p__send", "ada");
        let state = sealed(&states, &call);
        assert_eq!(
            states.redeem(&state, Some(&approve()), &call).unwrap(),
            vec![("q1".to_owned(), true)]
        );
        assert_eq!(
            states.redeem(&state, Some(&approve()), &call),
            Err(Refused::Replayed)
        );
    }

    #[test]
    fn a_state_is_refused_for_another_call_another_server_or_changed() {
        let states = States::new();
        let this = call("com.example.p", "c1", "p__send", "ada");
        let state = sealed(&states, &this);
        for other in [
            call("com.example.p", "c1", "p__send", "eve"),
            call("com.example.p", "c1", "p__delete", "ada"),
            call("com.example.q", "c1", "p__send", "ada"),
            // The same plugin, updated between the rounds.
            call("com.example.p", "c2", "p__send", "ada"),
        ] {
            assert_eq!(
                states.redeem(&state, Some(&approve()), &other),
                Err(Refused::Invalid)
            );
        }
        assert_eq!(
            States::new().redeem(&state, Some(&approve()), &this),
            Err(Refused::Invalid)
        );
        // A state whose payload says something else (every byte of it, in turn).
        let (payload_start, payload_end) = {
            let first = state.find('.').unwrap() + 1;
            (first, first + state[first..].find('.').unwrap())
        };
        for at in payload_start..payload_end {
            let mut changed = state.clone().into_bytes();
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(changed).unwrap();
            assert_eq!(
                states.redeem(&changed, Some(&approve()), &this),
                Err(Refused::Invalid),
                "byte {at} changed"
            );
        }
        // Refusals spend nothing: the genuine retry still works.
        assert!(states.redeem(&state, Some(&approve()), &this).is_ok());
    }

    fn request(summary: &str) -> Request {
        Request {
            action: "send".into(),
            summary: summary.into(),
            details: None,
        }
    }

    #[test]
    fn each_answer_is_used_once_by_the_ask_in_its_place() {
        let q = question_digest(&request("to ada"));
        let (approver, mut unanswered) = Answering::round(vec![(q.clone(), true)]);
        // The first ask of the question gets the yes.
        assert_eq!(
            approver.ask("p", &request("to ada"), Duration::from_secs(1)),
            Some(Answer::Approve)
        );
        // The same question again is a new question to the person, not the same yes.
        let again = std::thread::spawn(move || {
            approver.ask("p", &request("to ada"), Duration::from_secs(1))
        });
        let (_, digest, _, ended) = unanswered.blocking_recv().expect("asked again");
        assert_eq!(digest, q);
        drop(ended);
        assert!(matches!(again.join().unwrap(), Some(Answer::Reject(_))));

        // A retry that asks something else first is refused, not answered.
        let (approver, _unanswered) = Answering::round(vec![(q, true)]);
        assert!(matches!(
            approver.ask("p", &request("to eve"), Duration::from_secs(1)),
            Some(Answer::Reject(why)) if why.contains("other questions")
        ));
    }

    #[test]
    fn arguments_bind_whatever_order_their_keys_come_in() {
        assert_eq!(
            binding(
                "p",
                "c1",
                "t",
                &serde_json::json!({"a": 1, "b": {"d": [1, 2], "c": null}})
            ),
            binding(
                "p",
                "c1",
                "t",
                &serde_json::json!({"b": {"c": null, "d": [1, 2]}, "a": 1})
            )
        );
    }

    #[test]
    fn a_declined_answer_or_none_is_no_approval() {
        let states = States::new();
        let call = binding("p", "c1", "t", &serde_json::json!({}));
        let mut declined = InputResponses::new();
        declined.insert(KEY.into(), serde_json::json!({ "action": "decline" }));
        assert_eq!(
            states
                .redeem(&sealed(&states, &call), Some(&declined), &call)
                .unwrap(),
            vec![("q1".to_owned(), false)]
        );
        assert_eq!(
            states.redeem(&sealed(&states, &call), None, &call),
            Err(Refused::NoAnswer)
        );
    }
}
