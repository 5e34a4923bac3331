//! One recording session and the files it writes under the recordings root.
//!
//! A recording `<id>` is the directory `<root>/<id>/`:
//!
//! | file | written | holds |
//! |---|---|---|
//! | `meta.json` | at start | `{"id", "title", "started_unix_ms", "format": 1}` |
//! | `events.jsonl` | created at start, a line per event | `{"kind", "time_ms", "target", "value", "x", "y", "redacted"}` |
//! | `frames.jsonl` | created at start, a line per frame | `{"index", "time_ms", "bytes", "file"}` |
//! | `frames/000000.jpg`, ... | a file per frame | the JPEG as it came |
//! | `summary.json` | at stop | `{"recording_id", "duration_ms", "steps", "frames", "redactions", "refused"}` |
//!
//! Absent values are JSON `null`. Every event is redacted ([`crate::redact`]) before its
//! line is written; nothing here writes an event's original value.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pincer_sdk::recording::{Event, RecorderError, Summary};
use serde::Serialize;

use crate::{frame, id, redact};

/// The version of the layout above, in `meta.json`.
pub const FORMAT: u32 = 1;

/// The longest title, in characters.
const MAX_TITLE_CHARS: usize = 200;

/// The longest event kind, in characters.
const MAX_KIND_CHARS: usize = 64;

/// The largest target or value of an event, in bytes.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// How many ids `start` tries before it gives up on finding a free one.
const ID_TRIES: u32 = 8;

/// The active session: where it writes and what it has written.
#[derive(Debug)]
pub struct Session {
    id: String,
    dir: PathBuf,
    started: Instant,
    steps: u32,
    frames: u32,
    redactions: u32,
}

/// `meta.json`.
#[derive(Serialize)]
struct Meta<'a> {
    id: &'a str,
    title: Option<&'a str>,
    started_unix_ms: u64,
    format: u32,
}

/// A line of `events.jsonl`.
#[derive(Serialize)]
struct EventLine<'a> {
    kind: &'a str,
    time_ms: u64,
    target: Option<&'a str>,
    value: Option<&'a str>,
    x: Option<i32>,
    y: Option<i32>,
    redacted: bool,
}

/// A line of `frames.jsonl`.
#[derive(Serialize)]
struct FrameLine<'a> {
    index: u32,
    time_ms: u64,
    bytes: usize,
    file: &'a str,
}

/// `summary.json`.
#[derive(Serialize)]
struct SummaryFile<'a> {
    recording_id: &'a str,
    duration_ms: u64,
    steps: u32,
    frames: u32,
    redactions: u32,
    refused: u32,
}

impl Session {
    /// Start a session under `root`: create its directory, `frames/`, `meta.json` and
    /// the two empty index files. A title with a card number in it is stored redacted.
    /// On failure nothing of the new recording is left behind.
    pub fn start(root: &Path, title: Option<&str>) -> Result<Session, RecorderError> {
        let mut redactions = 0;
        let title = match title {
            Some(title) => {
                check_title(title)?;
                let mut title = title.to_owned();
                redactions += redact::redact_cards(&mut title);
                Some(title)
            }
            None => None,
        };
        if let Err(err) = fs::metadata(root) {
            return Err(RecorderError::Storage(format!(
                "nothing is mounted at {}: the host did not grant this plugin its recordings mount ({err})",
                root.display()
            )));
        }
        let (id, dir) = create_recording_dir(root)?;
        let session = Session {
            id,
            dir,
            started: Instant::now(),
            steps: 0,
            frames: 0,
            redactions,
        };
        if let Err(err) = session.create_files(title.as_deref()) {
            let _ = fs::remove_dir_all(&session.dir);
            return Err(err);
        }
        Ok(session)
    }

    /// The recording's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Redact `event` and append it to `events.jsonl`.
    pub fn record_event(&mut self, event: Event) -> Result<(), RecorderError> {
        check_event(&event)?;
        let (event, redactions) = redact::redact(event);
        let line = EventLine {
            kind: &event.kind,
            time_ms: event.time_ms,
            target: event.target.as_deref(),
            value: event.value.as_deref(),
            x: event.x,
            y: event.y,
            redacted: redactions > 0,
        };
        self.append("events.jsonl", &line)?;
        self.steps = self.steps.saturating_add(1);
        self.redactions = self.redactions.saturating_add(redactions);
        Ok(())
    }

    /// Check `jpeg`, write it to `frames/NNNNNN.jpg` and append it to `frames.jsonl`.
    pub fn record_frame(&mut self, time_ms: u64, jpeg: &[u8]) -> Result<(), RecorderError> {
        frame::check(jpeg).map_err(RecorderError::Invalid)?;
        let index = self.frames;
        let file = format!("frames/{index:06}.jpg");
        let path = self.dir.join(&file);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(jpeg))
            .map_err(|err| storage("write", &path, &err))?;
        let line = FrameLine {
            index,
            time_ms,
            bytes: jpeg.len(),
            file: &file,
        };
        if let Err(err) = self.append("frames.jsonl", &line) {
            let _ = fs::remove_file(&path);
            return Err(err);
        }
        self.frames = self.frames.saturating_add(1);
        Ok(())
    }

    /// End the session: write `summary.json` and return the summary, with `refused`
    /// events refused outside any session since the last summary. The session ends
    /// even when the summary cannot be written; the error says so.
    pub fn stop(self, refused: u32) -> Result<Summary, RecorderError> {
        let summary = Summary {
            recording_id: self.id,
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            steps: self.steps,
            frames: self.frames,
            redactions: self.redactions,
            refused,
        };
        let file = SummaryFile {
            recording_id: &summary.recording_id,
            duration_ms: summary.duration_ms,
            steps: summary.steps,
            frames: summary.frames,
            redactions: summary.redactions,
            refused: summary.refused,
        };
        let path = self.dir.join("summary.json");
        fs::write(&path, json_line(&file)).map_err(|err| {
            RecorderError::Storage(format!(
                "the session has ended, but its summary was not written: cannot write {}: {err}",
                path.display()
            ))
        })?;
        Ok(summary)
    }

    fn create_files(&self, title: Option<&str>) -> Result<(), RecorderError> {
        let frames = self.dir.join("frames");
        fs::create_dir(&frames).map_err(|err| storage("create", &frames, &err))?;
        let meta = Meta {
            id: &self.id,
            title,
            started_unix_ms: unix_ms(SystemTime::now()),
            format: FORMAT,
        };
        let path = self.dir.join("meta.json");
        fs::write(&path, json_line(&meta)).map_err(|err| storage("write", &path, &err))?;
        for name in ["events.jsonl", "frames.jsonl"] {
            let path = self.dir.join(name);
            fs::write(&path, b"").map_err(|err| storage("create", &path, &err))?;
        }
        Ok(())
    }

    /// Append `record` as one JSON line to the recording's file `name`.
    fn append(&self, name: &str, record: &impl Serialize) -> Result<(), RecorderError> {
        let path = self.dir.join(name);
        OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&json_line(record)))
            .map_err(|err| storage("write", &path, &err))
    }
}

/// Create a new recording's directory under `root`, trying new ids while one is taken.
fn create_recording_dir(root: &Path) -> Result<(String, PathBuf), RecorderError> {
    for _ in 0..ID_TRIES {
        let id = id::new(SystemTime::now(), id::random());
        let dir = root.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(storage("create", &dir, &err)),
        }
    }
    Err(RecorderError::Storage(format!(
        "cannot find a free recording id under {} after {ID_TRIES} tries",
        root.display()
    )))
}

fn check_title(title: &str) -> Result<(), RecorderError> {
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(RecorderError::Invalid(format!(
            "a title must be at most {MAX_TITLE_CHARS} characters; this one has {chars}"
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(RecorderError::Invalid(
            "a title must be one line without control characters".to_owned(),
        ));
    }
    Ok(())
}

fn check_event(event: &Event) -> Result<(), RecorderError> {
    let kind_chars = event.kind.chars().count();
    if kind_chars == 0 || kind_chars > MAX_KIND_CHARS || event.kind.chars().any(char::is_control) {
        return Err(RecorderError::Invalid(format!(
            "an event's kind must be 1 to {MAX_KIND_CHARS} characters without control characters"
        )));
    }
    for (field, text) in [("target", &event.target), ("value", &event.value)] {
        if let Some(text) = text
            && text.len() > MAX_TEXT_BYTES
        {
            return Err(RecorderError::Invalid(format!(
                "an event's {field} of {} bytes is over the {MAX_TEXT_BYTES}-byte limit",
                text.len()
            )));
        }
    }
    Ok(())
}

/// `record` as JSON and a line break.
fn json_line(record: &impl Serialize) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    let mut line = serde_json::to_vec(record).expect("a record serialises");
    line.push(b'\n');
    line
}

/// Milliseconds from the Unix epoch to `t`, 0 before it.
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A storage error that names the action, the path and the OS's reason.
fn storage(action: &str, path: &Path, err: &io::Error) -> RecorderError {
    RecorderError::Storage(format!("cannot {action} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A fresh directory standing in for the recordings mount.
    struct Root(PathBuf);

    impl Root {
        fn new(name: &str) -> Root {
            let dir = std::env::temp_dir().join(format!(
                "pincer-recorder-{name}-{}-{:x}",
                std::process::id(),
                id::random()
            ));
            fs::create_dir_all(&dir).unwrap();
            Root(dir)
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn event(kind: &str, time_ms: u64, target: Option<&str>, value: Option<&str>) -> Event {
        Event {
            kind: kind.to_owned(),
            time_ms,
            target: target.map(str::to_owned),
            value: value.map(str::to_owned),
            sensitive: false,
            x: None,
            y: None,
        }
    }

    fn lines(path: &Path) -> Vec<Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn jpeg() -> Vec<u8> {
        vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 2, 0xFF, 0xD9]
    }

    #[test]
    fn writes_a_whole_recording() {
        let root = Root::new("whole");
        let mut session = Session::start(&root.0, Some("Sign in")).unwrap();
        let id = session.id().to_owned();
        assert!(pincer_sdk::recording::is_recording_id(&id), "{id}");
        let dir = root.0.join(&id);

        let mut click = event("click", 5, Some("#submit"), None);
        click.x = Some(120);
        click.y = Some(40);
        session.record_event(click).unwrap();
        session
            .record_event(event("input", 9, Some("#password"), Some("hunter2")))
            .unwrap();
        session.record_frame(7, &jpeg()).unwrap();
        session.record_frame(12, &jpeg()).unwrap();
        let summary = session.stop(2).unwrap();

        assert_eq!(summary.recording_id, id);
        assert_eq!(
            (
                summary.steps,
                summary.frames,
                summary.redactions,
                summary.refused
            ),
            (2, 2, 1, 2)
        );
        let meta: Value =
            serde_json::from_slice(&fs::read(dir.join("meta.json")).unwrap()).unwrap();
        assert_eq!(meta["id"], json!(id));
        assert_eq!(meta["title"], json!("Sign in"));
        assert_eq!(meta["format"], json!(1));
        assert!(meta["started_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
        assert_eq!(
            lines(&dir.join("events.jsonl")),
            [
                json!({"kind": "click", "time_ms": 5, "target": "#submit", "value": null, "x": 120, "y": 40, "redacted": false}),
                json!({"kind": "input", "time_ms": 9, "target": "#password", "value": "[redacted]", "x": null, "y": null, "redacted": true}),
            ]
        );
        assert_eq!(
            lines(&dir.join("frames.jsonl")),
            [
                json!({"index": 0, "time_ms": 7, "bytes": 8, "file": "frames/000000.jpg"}),
                json!({"index": 1, "time_ms": 12, "bytes": 8, "file": "frames/000001.jpg"}),
            ]
        );
        assert_eq!(fs::read(dir.join("frames/000001.jpg")).unwrap(), jpeg());
        let written: Value =
            serde_json::from_slice(&fs::read(dir.join("summary.json")).unwrap()).unwrap();
        assert_eq!(
            written,
            json!({"recording_id": id, "duration_ms": summary.duration_ms, "steps": 2, "frames": 2, "redactions": 1, "refused": 2})
        );
    }

    #[test]
    fn never_writes_a_redacted_value() {
        let root = Root::new("secret");
        let mut session = Session::start(&root.0, None).unwrap();
        let dir = root.0.join(session.id());
        let mut sensitive = event("input", 1, Some("#code"), Some("s3cr3t-value"));
        sensitive.sensitive = true;
        session.record_event(sensitive).unwrap();
        session
            .record_event(event(
                "input",
                2,
                Some("#card"),
                Some("4111 1111 1111 1111"),
            ))
            .unwrap();
        let summary = session.stop(0).unwrap();
        let events = fs::read_to_string(dir.join("events.jsonl")).unwrap();
        assert!(!events.contains("s3cr3t"), "{events}");
        assert!(!events.contains("4111"), "{events}");
        assert!(events.contains("[redacted:card]"), "{events}");
        assert_eq!(summary.redactions, 2);
    }

    #[test]
    fn redacts_a_card_number_in_the_title() {
        let root = Root::new("title");
        let session = Session::start(&root.0, Some("pay 4111111111111111")).unwrap();
        let meta = fs::read_to_string(root.0.join(session.id()).join("meta.json")).unwrap();
        assert!(meta.contains(r#""title":"pay [redacted:card]""#), "{meta}");
        assert_eq!(session.stop(0).unwrap().redactions, 1);
    }

    #[test]
    fn refuses_a_frame_that_is_not_a_jpeg_and_writes_nothing() {
        let root = Root::new("frame");
        let mut session = Session::start(&root.0, None).unwrap();
        let dir = root.0.join(session.id());
        assert_eq!(
            session.record_frame(1, b"GIF89a"),
            Err(RecorderError::Invalid(
                "a frame must be a JPEG (it must start with FF D8 and end with FF D9)".to_owned()
            ))
        );
        assert_eq!(fs::read_to_string(dir.join("frames.jsonl")).unwrap(), "");
        assert_eq!(fs::read_dir(dir.join("frames")).unwrap().count(), 0);
        assert_eq!(session.stop(0).unwrap().frames, 0);
    }

    #[test]
    fn refuses_malformed_events_and_titles() {
        let root = Root::new("malformed");
        assert!(matches!(
            Session::start(&root.0, Some("two\nlines")),
            Err(RecorderError::Invalid(m)) if m.contains("control characters")
        ));
        assert!(matches!(
            Session::start(&root.0, Some(&"t".repeat(201))),
            Err(RecorderError::Invalid(m)) if m == "a title must be at most 200 characters; this one has 201"
        ));
        assert_eq!(
            fs::read_dir(&root.0).unwrap().count(),
            0,
            "a refused start leaves nothing"
        );
        let mut session = Session::start(&root.0, None).unwrap();
        assert!(matches!(
            session.record_event(event("", 1, None, None)),
            Err(RecorderError::Invalid(_))
        ));
        let huge = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            session.record_event(event("input", 1, None, Some(&huge))),
            Err(RecorderError::Invalid(
                "an event's value of 65537 bytes is over the 65536-byte limit".to_owned()
            ))
        );
        assert_eq!(session.stop(0).unwrap().steps, 0);
    }

    #[test]
    fn says_when_the_recordings_mount_is_missing() {
        let root = Root::new("missing");
        let absent = root.0.join("not-here");
        match Session::start(&absent, None) {
            Err(RecorderError::Storage(m)) => {
                assert!(
                    m.starts_with(&format!("nothing is mounted at {}", absent.display())),
                    "{m}"
                )
            }
            other => panic!("expected a storage error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_file_it_could_not_write() {
        let root = Root::new("unwritable");
        let mut session = Session::start(&root.0, None).unwrap();
        let dir = root.0.join(session.id());
        fs::remove_dir_all(&dir).unwrap();
        match session.record_event(event("click", 1, None, None)) {
            Err(RecorderError::Storage(m)) => {
                assert!(
                    m.starts_with(&format!(
                        "cannot write {}: ",
                        dir.join("events.jsonl").display()
                    )),
                    "{m}"
                )
            }
            other => panic!("expected a storage error, got {other:?}"),
        }
        match session.stop(0) {
            Err(RecorderError::Storage(m)) => {
                assert!(m.starts_with("the session has ended, but"), "{m}")
            }
            other => panic!("expected a storage error, got {other:?}"),
        }
    }
}
