//! `/v1/approvals`: the gateway's approver. A plugin's `ask` approval waits here until
//! a person answers through the API (the desktop app shows the question) or its
//! timeout passes, which means no.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, App, Body};
use crate::caps::approval::{Answer, Approver};
use crate::caps::bindings::pincer::plugin::approval::Request;
use crate::text::printable;

/// One question waiting for a person.
struct Pending {
    plugin: String,
    action: String,
    summary: String,
    details: Option<String>,
    asked_at: String,
    deadline: Instant,
    answer: mpsc::Sender<Answer>,
}

/// The questions waiting, by id.
#[derive(Default)]
pub struct Approvals {
    next: AtomicU64,
    pending: Mutex<BTreeMap<u64, Pending>>,
}

impl Approver for Approvals {
    fn ask(&self, plugin: &str, request: &Request, timeout: Duration) -> Option<Answer> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel();
        // The plugin wrote these: they are shown escaped, as on the terminal.
        let pending = Pending {
            plugin: plugin.to_owned(),
            action: printable(&request.action),
            summary: printable(&request.summary),
            details: request.details.as_deref().map(printable),
            asked_at: crate::audit::now_rfc3339(),
            deadline: Instant::now() + timeout,
            answer: tx,
        };
        self.lock().insert(id, pending);
        let answer = rx.recv_timeout(timeout).ok();
        self.lock().remove(&id);
        answer
    }
}

impl Approvals {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The questions waiting now, oldest first.
    fn list(&self) -> Vec<Value> {
        let now = Instant::now();
        self.lock()
            .iter()
            .filter(|(_, p)| p.deadline > now)
            .map(|(id, p)| {
                json!({
                    "id": id,
                    "plugin": p.plugin,
                    "action": p.action,
                    "summary": p.summary,
                    "details": p.details,
                    "asked_at": p.asked_at,
                    "expires_in_ms": p.deadline.saturating_duration_since(now).as_millis() as u64,
                })
            })
            .collect()
    }

    /// Answer question `id`; false if it is not waiting (answered, or timed out).
    fn answer(&self, id: u64, answer: Answer) -> bool {
        match self.lock().remove(&id) {
            Some(pending) => pending.answer.send(answer).is_ok(),
            None => false,
        }
    }
}

pub(super) async fn list(State(app): State<App>) -> Json<Value> {
    Json(json!({ "pending": app.approvals.list() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnswerBody {
    approve: bool,
    /// Shown to the plugin with a no.
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn answer(
    State(app): State<App>,
    Path(id): Path<u64>,
    Body(body): Body<AnswerBody>,
) -> Result<Json<Value>, ApiError> {
    let answer = if body.approve {
        Answer::Approve
    } else {
        Answer::Reject(
            body.reason
                .unwrap_or_else(|| "a person said no (through the gateway)".into()),
        )
    };
    if !app.approvals.answer(id, answer) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no approval {id} is waiting: it was answered or timed out (see GET /v1/approvals)"
            ),
        ));
    }
    Ok(Json(json!({ "answered": id, "approved": body.approve })))
}
