//! The `recorder` and `viewer` kinds.
//!
//! A recorder's session lives in one instance from `start` to `stop` (the plugin keeps
//! it in memory), so the host keeps that instance between calls, one per plugin; every
//! call still runs under the plugin's limits and its own deadline. A fault ends the
//! session: the instance is dropped with what it held. A viewer call opens the
//! recording in a fresh instance and asks one thing of it. The text of every answer
//! and error is cleaned of the plugin's secret values before it is returned.

use serde::{Deserialize, Serialize};

use crate::caps::redact::{CallRedactor, Place};
use crate::manifest::PluginKind;
use crate::runtime::{CallError, CallStore, Plugin};

/// Bindings for the `recorder` world.
pub mod recorder {
    world_bindings!("recorder");
}

/// Bindings for the `viewer` world.
pub mod viewer {
    world_bindings!("viewer");
}

use recorder::exports::pincer::plugin::recording as rec;
use viewer::exports::pincer::plugin::playback as play;

/// One interaction, as a client sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// What happened: `click`, `key`, `input`, `navigate`, `scroll`, ...
    pub kind: String,
    /// Milliseconds since the session started.
    pub time_ms: u64,
    /// What it happened to.
    #[serde(default)]
    pub target: Option<String>,
    /// Typed or selected text.
    #[serde(default)]
    pub value: Option<String>,
    /// The source marks the field as sensitive: its value is never written.
    #[serde(default)]
    pub sensitive: bool,
    /// Pointer position in screen pixels.
    #[serde(default)]
    pub x: Option<i32>,
    /// Pointer position in screen pixels.
    #[serde(default)]
    pub y: Option<i32>,
}

/// What a session recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The recording's id.
    pub recording_id: String,
    /// Wall time from start to stop.
    pub duration_ms: u64,
    /// Events written.
    pub steps: u32,
    /// Frames written.
    pub frames: u32,
    /// Values redacted.
    pub redactions: u32,
    /// Events refused because no session was active.
    pub refused: u32,
}

/// Why the recorder refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecorderFailure {
    /// No session is active: nothing was stored.
    #[error("no recording session is active: start one first; nothing was stored")]
    NoSession,
    /// A session is already active.
    #[error("a recording session is already active: stop it first")]
    AlreadyRecording,
    /// The event or frame is malformed.
    #[error("{0}")]
    Invalid(String),
    /// Writing failed, or a capability was denied.
    #[error("{0}")]
    Storage(String),
}

impl RecorderFailure {
    /// This failure with its text cleaned by `redact`.
    fn redacted(self, redact: &CallRedactor) -> Self {
        match self {
            RecorderFailure::Invalid(mut m) => {
                redact.string(&mut m, Place::Recording);
                RecorderFailure::Invalid(m)
            }
            RecorderFailure::Storage(mut m) => {
                redact.string(&mut m, Place::Recording);
                RecorderFailure::Storage(m)
            }
            other => other,
        }
    }
}

impl From<rec::RecorderError> for RecorderFailure {
    fn from(e: rec::RecorderError) -> Self {
        match e {
            rec::RecorderError::NoSession => RecorderFailure::NoSession,
            rec::RecorderError::AlreadyRecording => RecorderFailure::AlreadyRecording,
            rec::RecorderError::Invalid(m) => RecorderFailure::Invalid(m),
            rec::RecorderError::Storage(m) => RecorderFailure::Storage(m),
        }
    }
}

/// A recording's overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingInfo {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: Option<String>,
    /// How long it lasted.
    pub duration_ms: u64,
    /// Steps in its timeline.
    pub steps: u32,
    /// Frames.
    pub frames: u32,
    /// The recorded screen's width.
    pub screen_width: u32,
    /// The recorded screen's height.
    pub screen_height: u32,
}

/// One step of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Its position, from 0.
    pub index: u32,
    /// Milliseconds since the start.
    pub time_ms: u64,
    /// What happened, in one line.
    pub description: String,
}

/// Which frame to return.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FrameSelector {
    /// By position.
    Index(u32),
    /// The last taken at or before this time.
    TimeMs(u64),
}

/// One frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Its position.
    pub index: u32,
    /// When it was taken.
    pub time_ms: u64,
    /// The JPEG bytes.
    pub jpeg: Vec<u8>,
}

/// A point in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// From the left edge.
    pub x: f64,
    /// From the top edge.
    pub y: f64,
}

/// Why the viewer could not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ViewerFailure {
    /// No such recording or frame.
    #[error("{0}")]
    NotFound(String),
    /// The recording's files are damaged.
    #[error("{0}")]
    Corrupt(String),
    /// The request is malformed.
    #[error("{0}")]
    Invalid(String),
}

impl ViewerFailure {
    /// This failure with its text cleaned by `redact`.
    fn redacted(self, redact: &CallRedactor) -> Self {
        let clean = |mut m: String| {
            redact.string(&mut m, Place::Recording);
            m
        };
        match self {
            ViewerFailure::NotFound(m) => ViewerFailure::NotFound(clean(m)),
            ViewerFailure::Corrupt(m) => ViewerFailure::Corrupt(clean(m)),
            ViewerFailure::Invalid(m) => ViewerFailure::Invalid(clean(m)),
        }
    }
}

impl From<play::ViewerError> for ViewerFailure {
    fn from(e: play::ViewerError) -> Self {
        match e {
            play::ViewerError::NotFound(m) => ViewerFailure::NotFound(m),
            play::ViewerError::Corrupt(m) => ViewerFailure::Corrupt(m),
            play::ViewerError::Invalid(m) => ViewerFailure::Invalid(m),
        }
    }
}

/// A recorder instance kept for its session.
pub(crate) struct LiveRecorder {
    cs: CallStore,
    recorder: recorder::Recorder,
}

/// What one recorder call asks.
enum RecorderCall {
    Start(Option<String>),
    Event(Event),
    Frame(u64, Vec<u8>),
    Stop,
}

/// What it answers.
enum RecorderAnswer {
    Started(String),
    Done,
    Stopped(Summary),
}

impl Plugin {
    /// Start a recording session; its recording id.
    pub async fn start_recording(
        &self,
        title: Option<&str>,
    ) -> Result<Result<String, RecorderFailure>, CallError> {
        Ok(self
            .recorder_call(RecorderCall::Start(title.map(str::to_owned)))
            .await?
            .map(|a| match a {
                RecorderAnswer::Started(id) => id,
                _ => unreachable!("start answers with an id"),
            }))
    }

    /// Record one event of the active session.
    pub async fn record_event(
        &self,
        event: Event,
    ) -> Result<Result<(), RecorderFailure>, CallError> {
        Ok(self
            .recorder_call(RecorderCall::Event(event))
            .await?
            .map(|_| ()))
    }

    /// Record one JPEG frame of the active session, taken at `time_ms`.
    pub async fn record_frame(
        &self,
        time_ms: u64,
        jpeg: Vec<u8>,
    ) -> Result<Result<(), RecorderFailure>, CallError> {
        Ok(self
            .recorder_call(RecorderCall::Frame(time_ms, jpeg))
            .await?
            .map(|_| ()))
    }

    /// Stop the session and summarise it. The session's instance is dropped.
    pub async fn stop_recording(&self) -> Result<Result<Summary, RecorderFailure>, CallError> {
        Ok(self
            .recorder_call(RecorderCall::Stop)
            .await?
            .map(|a| match a {
                RecorderAnswer::Stopped(summary) => summary,
                _ => unreachable!("stop answers with a summary"),
            }))
    }

    async fn recorder_call(
        &self,
        call: RecorderCall,
    ) -> Result<Result<RecorderAnswer, RecorderFailure>, CallError> {
        let pre = match &self.kind_pre {
            crate::kinds::KindPre::Recorder(pre) => pre,
            _ => return Err(self.wrong_kind(PluginKind::Recorder)),
        };
        // One call at a time reaches the session's instance.
        let mut live = self.live_recorder.lock().await;
        if live.is_none() {
            let mut cs = self.new_store().map_err(|e| self.host_error(e))?;
            let recorder = self
                .run_on(&mut cs, async |cs| {
                    pre.instantiate_async(&mut cs.store).await
                })
                .await?;
            *live = Some(LiveRecorder { cs, recorder });
        }
        let LiveRecorder { cs, recorder } = live.as_mut().expect("made above");
        let stopping = matches!(call, RecorderCall::Stop);
        let outcome = self
            .run_on(cs, async |cs| {
                let iface = recorder.pincer_plugin_recording();
                let answer = match call {
                    RecorderCall::Start(title) => iface
                        .call_start(&mut cs.store, title.as_deref())
                        .await?
                        .map(RecorderAnswer::Started),
                    RecorderCall::Event(e) => {
                        let event = rec::Event {
                            kind: e.kind,
                            time_ms: e.time_ms,
                            target: e.target,
                            value: e.value,
                            sensitive: e.sensitive,
                            x: e.x,
                            y: e.y,
                        };
                        iface
                            .call_record_event(&mut cs.store, &event)
                            .await?
                            .map(|()| RecorderAnswer::Done)
                    }
                    RecorderCall::Frame(time_ms, jpeg) => iface
                        .call_record_frame(&mut cs.store, time_ms, &jpeg)
                        .await?
                        .map(|()| RecorderAnswer::Done),
                    RecorderCall::Stop => iface.call_stop(&mut cs.store).await?.map(|s| {
                        RecorderAnswer::Stopped(Summary {
                            recording_id: s.recording_id,
                            duration_ms: s.duration_ms,
                            steps: s.steps,
                            frames: s.frames,
                            redactions: s.redactions,
                            refused: s.refused,
                        })
                    }),
                };
                Ok((answer, cs.store.data().redact().clone()))
            })
            .await;
        match outcome {
            // A fault loses the session with its instance; the next call starts afresh.
            Err(e) => {
                *live = None;
                Err(e)
            }
            Ok((answer, redact)) => {
                if stopping && answer.is_ok() {
                    *live = None;
                }
                Ok(match answer {
                    Ok(mut answer) => {
                        match &mut answer {
                            RecorderAnswer::Started(id) => redact.string(id, Place::Recording),
                            RecorderAnswer::Stopped(summary) => {
                                redact.string(&mut summary.recording_id, Place::Recording)
                            }
                            RecorderAnswer::Done => {}
                        }
                        Ok(answer)
                    }
                    Err(e) => Err(RecorderFailure::from(e).redacted(&redact)),
                })
            }
        }
    }

    /// Open recording `id` in a fresh viewer instance and ask `ask` of it; `clean`
    /// redacts the text of its answer.
    async fn view<R>(
        &self,
        id: &str,
        ask: impl AsyncFnOnce(
            &play::Guest,
            &mut CallStore,
        ) -> wasmtime::Result<Result<R, play::ViewerError>>,
        clean: impl FnOnce(&CallRedactor, &mut R),
    ) -> Result<Result<(play::RecordingInfo, R), ViewerFailure>, CallError> {
        let pre = match &self.kind_pre {
            crate::kinds::KindPre::Viewer(pre) => pre,
            _ => return Err(self.wrong_kind(PluginKind::Viewer)),
        };
        let (answer, redact) = self
            .run(async |cs| {
                let redact = cs.store.data().redact().clone();
                let viewer = pre.instantiate_async(&mut cs.store).await?;
                let iface = viewer.pincer_plugin_playback();
                let info = match iface.call_open(&mut cs.store, id).await? {
                    Ok(info) => info,
                    Err(e) => return Ok((Err(e), redact)),
                };
                Ok((ask(iface, cs).await?.map(|r| (info, r)), redact))
            })
            .await?;
        Ok(match answer {
            Ok((mut info, mut r)) => {
                redact.string(&mut info.id, Place::Recording);
                redact.option(&mut info.title, Place::Recording);
                clean(&redact, &mut r);
                Ok((info, r))
            }
            Err(e) => Err(ViewerFailure::from(e).redacted(&redact)),
        })
    }

    /// Recording `id`'s overview.
    pub async fn recording_info(
        &self,
        id: &str,
    ) -> Result<Result<RecordingInfo, ViewerFailure>, CallError> {
        let answer = self.view(id, async |_, _| Ok(Ok(())), |_, ()| {}).await?;
        Ok(answer.map(|(i, ())| RecordingInfo {
            id: i.id,
            title: i.title,
            duration_ms: i.duration_ms,
            steps: i.steps,
            frames: i.frames,
            screen_width: i.screen_width,
            screen_height: i.screen_height,
        }))
    }

    /// Recording `id`'s timeline.
    pub async fn timeline(&self, id: &str) -> Result<Result<Vec<Step>, ViewerFailure>, CallError> {
        let answer = self
            .view(
                id,
                async |iface, cs| iface.call_timeline(&mut cs.store).await,
                |redact, steps| {
                    for step in steps {
                        redact.string(&mut step.description, Place::Recording);
                    }
                },
            )
            .await?;
        Ok(answer.map(|(_, steps)| {
            steps
                .into_iter()
                .map(|s| Step {
                    index: s.index,
                    time_ms: s.time_ms,
                    description: s.description,
                })
                .collect()
        }))
    }

    /// One frame of recording `id`.
    pub async fn frame(
        &self,
        id: &str,
        selector: FrameSelector,
    ) -> Result<Result<Frame, ViewerFailure>, CallError> {
        let selector = match selector {
            FrameSelector::Index(i) => play::FrameSelector::Index(i),
            FrameSelector::TimeMs(t) => play::FrameSelector::TimeMs(t),
        };
        let answer = self
            .view(
                id,
                async |iface, cs| iface.call_get_frame(&mut cs.store, selector).await,
                // A frame is an image: nothing in it is text.
                |_, _| {},
            )
            .await?;
        Ok(answer.map(|(_, f)| Frame {
            index: f.index,
            time_ms: f.time_ms,
            jpeg: f.jpeg,
        }))
    }

    /// Where a point in a viewer of `width`×`height` falls on recording `id`'s screen;
    /// `None` on the letterbox.
    pub async fn map_input(
        &self,
        id: &str,
        (width, height): (u32, u32),
        point: Point,
    ) -> Result<Result<Option<Point>, ViewerFailure>, CallError> {
        let viewport = play::Size { width, height };
        let p = play::Point {
            x: point.x,
            y: point.y,
        };
        let answer = self
            .view(
                id,
                async |iface, cs| iface.call_map_input(&mut cs.store, viewport, p).await,
                |_, _| {},
            )
            .await?;
        Ok(answer.map(|(_, mapped)| mapped.map(|p| Point { x: p.x, y: p.y })))
    }
}
