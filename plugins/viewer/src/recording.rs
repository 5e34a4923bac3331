//! Reading a recording that a recorder wrote under the recordings root.
//!
//! The layout (format 1) is the reference recorder's: `<root>/<id>/meta.json`,
//! `events.jsonl`, `frames.jsonl`, `frames/NNNNNN.jpg` and, once the session stopped,
//! `summary.json`. A missing `events.jsonl` or `frames.jsonl` reads as empty (no event
//! or frame was recorded); a file that is there but does not parse is `corrupt`, with
//! the file and line named.
//!
//! This module never builds a path from data it has not checked: the id must be a
//! recording id, and a frame's file name must be the one its index gives.

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use pincer_sdk::recording::{Frame, RecordingInfo, Step, ViewerError, is_recording_id};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{describe, jpeg};

/// The layout version this viewer reads.
const FORMAT: u32 = 1;

/// An open recording: its overview, its timeline, and where its frames are.
#[derive(Debug)]
pub struct Recording {
    /// What `open` returns.
    pub info: RecordingInfo,
    /// The timeline, in time order.
    pub steps: Vec<Step>,
    dir: PathBuf,
    frames: Vec<FrameLine>,
}

/// `meta.json`.
#[derive(Deserialize)]
struct Meta {
    id: String,
    title: Option<String>,
    format: u32,
}

/// A line of `events.jsonl`. The recorder's `redacted` flag is not needed: a value
/// redacted whole reads `[redacted]`.
#[derive(Debug, Deserialize)]
pub struct EventLine {
    /// What happened.
    pub kind: String,
    /// When, in milliseconds since the start.
    pub time_ms: u64,
    /// What it happened to.
    #[serde(default)]
    pub target: Option<String>,
    /// The text typed or selected, redacted by the recorder.
    #[serde(default)]
    pub value: Option<String>,
    /// The pointer's position.
    #[serde(default)]
    pub x: Option<i32>,
    /// The pointer's position.
    #[serde(default)]
    pub y: Option<i32>,
}

/// A line of `frames.jsonl`.
#[derive(Debug, Deserialize)]
struct FrameLine {
    index: u32,
    time_ms: u64,
    file: String,
}

/// `summary.json`: only the duration is read.
#[derive(Deserialize)]
struct SummaryFile {
    duration_ms: u64,
}

impl Recording {
    /// Read the recording `id` under `root`.
    pub fn open(root: &Path, id: &str) -> Result<Recording, ViewerError> {
        if !is_recording_id(id) {
            let shown: String = id.chars().take(80).collect();
            return Err(ViewerError::Invalid(format!(
                "{shown:?} is not a recording id: an id is 1 to 64 characters of a-z, 0-9 and -"
            )));
        }
        let dir = root.join(id);
        if !dir.is_dir() {
            return Err(ViewerError::NotFound(format!(
                "no recording {id:?} under {}",
                root.display()
            )));
        }

        let meta_path = dir.join("meta.json");
        let meta: Meta = read_json(&meta_path)?;
        if meta.format != FORMAT {
            return Err(corrupt(
                &meta_path,
                format!(
                    "format {} is not one this viewer reads (it reads {FORMAT})",
                    meta.format
                ),
            ));
        }
        if meta.id != id {
            return Err(corrupt(
                &meta_path,
                format!("it names the recording {:?}", meta.id),
            ));
        }

        let mut events: Vec<EventLine> = read_lines(&dir.join("events.jsonl"))?
            .into_iter()
            .map(|(_, event)| event)
            .collect();
        events.sort_by_key(|e| e.time_ms);

        let frames_path = dir.join("frames.jsonl");
        let mut frames = Vec::new();
        for (line, frame) in read_lines::<FrameLine>(&frames_path)? {
            let expected = frame_file(frames.len() as u32);
            if frame.index as usize != frames.len() || frame.file != expected {
                return Err(corrupt(
                    &frames_path,
                    format!(
                        "line {line}: expected frame {} in {expected}, found frame {} in {:?}",
                        frames.len(),
                        frame.index,
                        frame.file
                    ),
                ));
            }
            frames.push(frame);
        }

        let (screen_width, screen_height) = match frames.first() {
            Some(first) => {
                let path = dir.join(&first.file);
                let bytes = read(&path)?;
                jpeg::dimensions(&bytes).map_err(|reason| corrupt(&path, reason))?
            }
            None => (0, 0),
        };

        let summary_path = dir.join("summary.json");
        let duration_ms = if summary_path.exists() {
            read_json::<SummaryFile>(&summary_path)?.duration_ms
        } else {
            let last_event = events.last().map_or(0, |e| e.time_ms);
            let last_frame = frames.iter().map(|f| f.time_ms).max().unwrap_or(0);
            last_event.max(last_frame)
        };

        let steps: Vec<Step> = events
            .iter()
            .enumerate()
            .map(|(index, event)| Step {
                index: index as u32,
                time_ms: event.time_ms,
                description: describe::describe(event),
            })
            .collect();
        let info = RecordingInfo {
            id: id.to_owned(),
            title: meta.title,
            duration_ms,
            steps: steps.len() as u32,
            frames: frames.len() as u32,
            screen_width,
            screen_height,
        };
        Ok(Recording {
            info,
            steps,
            dir,
            frames,
        })
    }

    /// The frame at `index`.
    pub fn frame_at(&self, index: u32) -> Result<Frame, ViewerError> {
        let Some(entry) = self.frames.get(index as usize) else {
            return Err(ViewerError::NotFound(format!(
                "there is no frame {index}: the recording has {} frames",
                self.frames.len()
            )));
        };
        let path = self.dir.join(&entry.file);
        Ok(Frame {
            index,
            time_ms: entry.time_ms,
            jpeg: read(&path)?,
        })
    }

    /// The last frame taken at or before `time_ms`: the latest such time, and of frames
    /// taken at that same time, the last recorded.
    pub fn frame_before(&self, time_ms: u64) -> Result<Frame, ViewerError> {
        let index = self
            .frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.time_ms <= time_ms)
            .max_by_key(|&(i, f)| (f.time_ms, i))
            .map(|(i, _)| i as u32)
            .ok_or_else(|| {
                ViewerError::NotFound(format!("no frame was taken at or before {time_ms} ms"))
            })?;
        self.frame_at(index)
    }
}

/// The file of frame `index`, relative to the recording's directory.
fn frame_file(index: u32) -> String {
    format!("frames/{index:06}.jpg")
}

fn read(path: &Path) -> Result<Vec<u8>, ViewerError> {
    fs::read(path).map_err(|err| unreadable(path, &err))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ViewerError> {
    serde_json::from_slice(&read(path)?).map_err(|err| corrupt(path, err.to_string()))
}

/// The records of the JSON Lines file at `path` with their line numbers, from 1; none
/// if the file does not exist. Blank lines are skipped.
fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, ViewerError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(unreadable(path, &err)),
    };
    let mut records = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|err| corrupt(path, format!("line {number}: {err}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line)
            .map_err(|err| corrupt(path, format!("line {number}: {err}")))?;
        records.push((number, record));
    }
    Ok(records)
}

fn corrupt(path: &Path, reason: impl std::fmt::Display) -> ViewerError {
    ViewerError::Corrupt(format!("{}: {reason}", path.display()))
}

fn unreadable(path: &Path, err: &io::Error) -> ViewerError {
    corrupt(path, format_args!("cannot read it: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg::tests::jpeg_with;
    use pincer_sdk::recording::FrameSelector;

    /// A fresh directory standing in for the recordings mount.
    struct Root(PathBuf);

    impl Root {
        fn new(name: &str) -> Root {
            use std::hash::{BuildHasher, Hasher};
            let random = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            let dir = std::env::temp_dir().join(format!(
                "pincer-viewer-{name}-{}-{random:x}",
                std::process::id()
            ));
            fs::create_dir_all(&dir).unwrap();
            Root(dir)
        }

        /// Write `files` (path, contents) into the recording `id`.
        fn recording(&self, id: &str, files: &[(&str, &[u8])]) -> PathBuf {
            let dir = self.0.join(id);
            fs::create_dir_all(dir.join("frames")).unwrap();
            for (name, contents) in files {
                fs::write(dir.join(name), contents).unwrap();
            }
            dir
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const META: &[u8] = br#"{"id":"rec-1","title":"Sign in","started_unix_ms":1,"format":1}"#;

    const EVENTS: &[u8] = br##"{"kind":"input","time_ms":30,"target":"#password","value":"[redacted]","x":null,"y":null,"redacted":true}
{"kind":"click","time_ms":10,"target":"#submit","value":null,"x":120,"y":40,"redacted":false}
{"kind":"navigate","time_ms":0,"target":"https://example.com","value":null,"x":null,"y":null,"redacted":false}
"##;

    const FRAMES: &[u8] = br#"{"index":0,"time_ms":0,"bytes":36,"file":"frames/000000.jpg"}
{"index":1,"time_ms":20,"bytes":36,"file":"frames/000001.jpg"}
{"index":2,"time_ms":20,"bytes":36,"file":"frames/000002.jpg"}
"#;

    fn full(root: &Root) -> PathBuf {
        let first = jpeg_with(0xC0, 1280, 720);
        let later = jpeg_with(0xC2, 640, 360);
        root.recording(
            "rec-1",
            &[
                ("meta.json", META),
                ("events.jsonl", EVENTS),
                ("frames.jsonl", FRAMES),
                ("frames/000000.jpg", &first),
                ("frames/000001.jpg", &later),
                ("frames/000002.jpg", &later),
            ],
        )
    }

    fn corrupt_message(result: Result<Recording, ViewerError>) -> String {
        match result {
            Err(ViewerError::Corrupt(m)) => m,
            other => panic!("expected corrupt, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_recording_and_orders_its_timeline() {
        let root = Root::new("read");
        full(&root);
        let recording = Recording::open(&root.0, "rec-1").unwrap();
        assert_eq!(
            recording.info,
            RecordingInfo {
                id: "rec-1".to_owned(),
                title: Some("Sign in".to_owned()),
                duration_ms: 30,
                steps: 3,
                frames: 3,
                screen_width: 1280,
                screen_height: 720,
            }
        );
        let steps: Vec<_> = recording
            .steps
            .iter()
            .map(|s| (s.index, s.time_ms, s.description.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                (0, 0, "navigate to https://example.com"),
                (1, 10, "click on #submit at (120, 40)"),
                (2, 30, "typed [redacted] into #password"),
            ]
        );
    }

    #[test]
    fn takes_the_duration_from_the_summary_when_there_is_one() {
        let root = Root::new("summary");
        let dir = full(&root);
        fs::write(dir.join("summary.json"), br#"{"recording_id":"rec-1","duration_ms":4500,"steps":3,"frames":3,"redactions":1,"refused":0}"#).unwrap();
        assert_eq!(
            Recording::open(&root.0, "rec-1").unwrap().info.duration_ms,
            4500
        );
    }

    #[test]
    fn a_recording_without_events_or_frames_has_no_screen() {
        let root = Root::new("empty");
        root.recording("rec-1", &[("meta.json", META)]);
        let recording = Recording::open(&root.0, "rec-1").unwrap();
        assert_eq!(
            (
                recording.info.steps,
                recording.info.frames,
                recording.info.screen_width,
                recording.info.screen_height,
                recording.info.duration_ms
            ),
            (0, 0, 0, 0, 0)
        );
        assert!(matches!(
            recording.frame_before(100),
            Err(ViewerError::NotFound(_))
        ));
    }

    #[test]
    fn finds_frames_by_index_and_by_time() {
        let root = Root::new("frames");
        full(&root);
        let recording = Recording::open(&root.0, "rec-1").unwrap();
        let at = |selector| {
            let frame = match selector {
                FrameSelector::Index(i) => recording.frame_at(i),
                FrameSelector::TimeMs(t) => recording.frame_before(t),
            }?;
            Ok::<_, ViewerError>((frame.index, frame.time_ms))
        };
        assert_eq!(at(FrameSelector::Index(0)), Ok((0, 0)));
        assert_eq!(at(FrameSelector::Index(2)), Ok((2, 20)));
        assert_eq!(
            at(FrameSelector::Index(3)),
            Err(ViewerError::NotFound(
                "there is no frame 3: the recording has 3 frames".to_owned()
            ))
        );
        assert_eq!(at(FrameSelector::TimeMs(0)), Ok((0, 0)));
        assert_eq!(at(FrameSelector::TimeMs(19)), Ok((0, 0)));
        assert_eq!(at(FrameSelector::TimeMs(20)), Ok((2, 20)));
        assert_eq!(at(FrameSelector::TimeMs(u64::MAX)), Ok((2, 20)));
        assert_eq!(
            recording.frame_at(1).unwrap().jpeg,
            jpeg_with(0xC2, 640, 360)
        );
    }

    #[test]
    fn refuses_an_id_that_is_not_a_recording_id() {
        let root = Root::new("ids");
        for id in ["", "..", "../etc", "rec-1/..", "REC-1", "/etc/passwd"] {
            assert!(
                matches!(Recording::open(&root.0, id), Err(ViewerError::Invalid(_))),
                "{id}"
            );
        }
        assert_eq!(
            Recording::open(&root.0, "a/b").unwrap_err(),
            ViewerError::Invalid(
                r#""a/b" is not a recording id: an id is 1 to 64 characters of a-z, 0-9 and -"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn says_when_there_is_no_such_recording() {
        let root = Root::new("missing");
        assert_eq!(
            Recording::open(&root.0, "rec-2").unwrap_err(),
            ViewerError::NotFound(format!("no recording \"rec-2\" under {}", root.0.display()))
        );
    }

    #[test]
    fn names_the_file_and_line_that_does_not_parse() {
        let root = Root::new("corrupt");
        let dir = full(&root);
        fs::write(
            dir.join("events.jsonl"),
            b"{\"kind\":\"click\",\"time_ms\":1}\n\n{\"kind\":\n",
        )
        .unwrap();
        let m = corrupt_message(Recording::open(&root.0, "rec-1"));
        assert!(
            m.starts_with(&format!("{}: line 3: ", dir.join("events.jsonl").display())),
            "{m}"
        );

        fs::write(dir.join("events.jsonl"), b"").unwrap();
        fs::write(dir.join("meta.json"), b"{").unwrap();
        let m = corrupt_message(Recording::open(&root.0, "rec-1"));
        assert!(
            m.starts_with(&format!("{}: ", dir.join("meta.json").display())),
            "{m}"
        );

        fs::remove_file(dir.join("meta.json")).unwrap();
        let m = corrupt_message(Recording::open(&root.0, "rec-1"));
        assert!(m.contains("meta.json: cannot read it: "), "{m}");
    }

    #[test]
    fn refuses_a_meta_file_for_another_recording_or_format() {
        let root = Root::new("meta");
        let dir = full(&root);
        fs::write(
            dir.join("meta.json"),
            br#"{"id":"rec-9","title":null,"format":1}"#,
        )
        .unwrap();
        assert!(
            corrupt_message(Recording::open(&root.0, "rec-1"))
                .ends_with("it names the recording \"rec-9\"")
        );
        fs::write(
            dir.join("meta.json"),
            br#"{"id":"rec-1","title":null,"format":2}"#,
        )
        .unwrap();
        assert!(
            corrupt_message(Recording::open(&root.0, "rec-1"))
                .ends_with("format 2 is not one this viewer reads (it reads 1)")
        );
    }

    #[test]
    fn refuses_a_frame_index_that_names_another_file() {
        let root = Root::new("escape");
        let dir = full(&root);
        fs::write(
            dir.join("frames.jsonl"),
            br#"{"index":0,"time_ms":0,"bytes":1,"file":"../../secret.jpg"}"#,
        )
        .unwrap();
        let m = corrupt_message(Recording::open(&root.0, "rec-1"));
        assert!(m.ends_with(r#"line 1: expected frame 0 in frames/000000.jpg, found frame 0 in "../../secret.jpg""#), "{m}");
    }

    #[test]
    fn says_when_the_first_frame_has_no_size() {
        let root = Root::new("nosize");
        let dir = full(&root);
        fs::write(dir.join("frames/000000.jpg"), [0xFF, 0xD8, 0xFF, 0xD9]).unwrap();
        let m = corrupt_message(Recording::open(&root.0, "rec-1"));
        assert_eq!(
            m,
            format!(
                "{}: no start-of-frame marker before the image data",
                dir.join("frames/000000.jpg").display()
            )
        );
    }
}
