//! The reference recorder plugin: records a workflow's events and screen frames into
//! `/recordings/<id>/`, the shared `recordings` root, with sensitive input redacted
//! before anything is written.
//!
//! The host keeps one instance for the whole session, so the active session lives in a
//! static. Outside a session the plugin stores nothing: it refuses events and frames
//! with `no-session` and counts them, and the next summary reports the count.
//! `session` documents the files a recording is made of.

mod frame;
mod id;
mod redact;
mod session;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pincer_sdk::recording::{Event, Recorder, RecorderError, Summary};

use session::Session;

/// Where the host mounts the `recordings` root (`manifests/recorder.toml`).
const RECORDINGS: &str = "/recordings";

/// The active session, if any.
static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// Events and frames refused outside a session since the last summary.
static REFUSED: AtomicU32 = AtomicU32::new(0);

struct Plugin;

impl Recorder for Plugin {
    fn start(title: Option<&str>) -> Result<String, RecorderError> {
        let mut active = session();
        if active.is_some() {
            return Err(RecorderError::AlreadyRecording);
        }
        let session = Session::start(Path::new(RECORDINGS), title)?;
        let id = session.id().to_owned();
        *active = Some(session);
        Ok(id)
    }

    fn record_event(event: Event) -> Result<(), RecorderError> {
        session().as_mut().ok_or_else(refuse)?.record_event(event)
    }

    fn record_frame(time_ms: u64, jpeg: Vec<u8>) -> Result<(), RecorderError> {
        session()
            .as_mut()
            .ok_or_else(refuse)?
            .record_frame(time_ms, &jpeg)
    }

    fn stop() -> Result<Summary, RecorderError> {
        let session = session().take().ok_or(RecorderError::NoSession)?;
        let refused = REFUSED.load(Ordering::Relaxed);
        let summary = session.stop(refused)?;
        // Reported now; refusals that arrive later go in the next summary.
        REFUSED.fetch_sub(refused, Ordering::Relaxed);
        Ok(summary)
    }
}

pincer_sdk::recorder_plugin!(Plugin);

/// The active session's slot. A panic cannot leave it half-changed (each change is
/// one assignment), so a poisoned lock is used as it is.
fn session() -> MutexGuard<'static, Option<Session>> {
    SESSION.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Count an event or frame that arrived outside a session, and say why it was refused.
fn refuse() -> RecorderError {
    let _ = REFUSED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        Some(n.saturating_add(1))
    });
    RecorderError::NoSession
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_and_counts_what_arrives_outside_a_session() {
        let click = Event {
            kind: "click".to_owned(),
            time_ms: 1,
            target: None,
            value: None,
            sensitive: false,
            x: None,
            y: None,
        };
        assert_eq!(Plugin::stop(), Err(RecorderError::NoSession));
        assert_eq!(Plugin::record_event(click), Err(RecorderError::NoSession));
        assert_eq!(
            Plugin::record_frame(1, vec![0xFF, 0xD8, 0xFF, 0xD9]),
            Err(RecorderError::NoSession)
        );
        assert_eq!(REFUSED.load(Ordering::Relaxed), 2);
    }
}
