//! The reference viewer plugin: shows a recording that a recorder wrote under the
//! `recordings` root, mounted read-only at `/recordings`: its timeline, its frames, and
//! where a pointer on a letterboxed view falls on the recorded screen.
//!
//! `open` reads a recording and keeps it in a static; the other calls work on it.
//! `recording` reads the files, `describe` writes each step's line, `jpeg` reads
//! the screen's size and `letterbox` maps points.

mod describe;
mod jpeg;
mod letterbox;
mod recording;

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pincer_sdk::recording::{
    Frame, FrameSelector, Point, RecordingInfo, Size, Step, Viewer, ViewerError,
};

use recording::Recording;

/// Where the host mounts the `recordings` root (`manifests/viewer.toml`).
const RECORDINGS: &str = "/recordings";

/// The open recording, if any.
static OPEN: Mutex<Option<Recording>> = Mutex::new(None);

struct Plugin;

impl Viewer for Plugin {
    fn open(id: &str) -> Result<RecordingInfo, ViewerError> {
        let mut open = opened();
        // A failed open closes the previous recording, so that no later call answers
        // about a recording other than the one last asked for.
        *open = None;
        let recording = Recording::open(Path::new(RECORDINGS), id)?;
        let info = recording.info.clone();
        *open = Some(recording);
        Ok(info)
    }

    fn timeline() -> Result<Vec<Step>, ViewerError> {
        Ok(current(&opened())?.steps.clone())
    }

    fn get_frame(selector: FrameSelector) -> Result<Frame, ViewerError> {
        let open = opened();
        let recording = current(&open)?;
        match selector {
            FrameSelector::Index(index) => recording.frame_at(index),
            FrameSelector::TimeMs(time_ms) => recording.frame_before(time_ms),
        }
    }

    fn map_input(viewport: Size, p: Point) -> Result<Option<Point>, ViewerError> {
        let open = opened();
        let info = &current(&open)?.info;
        map_input(info, viewport, p)
    }
}

pincer_sdk::viewer_plugin!(Plugin);

/// The open recording's slot. Each change is one assignment, so a poisoned lock is
/// used as it is.
fn opened() -> MutexGuard<'static, Option<Recording>> {
    OPEN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The open recording, or `not-found` if none is.
fn current(open: &Option<Recording>) -> Result<&Recording, ViewerError> {
    open.as_ref().ok_or_else(|| {
        ViewerError::NotFound("no recording is open: call open with its id first".to_owned())
    })
}

/// Check a `map-input` request against the recording `info` and map its point.
fn map_input(info: &RecordingInfo, viewport: Size, p: Point) -> Result<Option<Point>, ViewerError> {
    if viewport.width == 0 || viewport.height == 0 {
        return Err(ViewerError::Invalid(format!(
            "the viewport is {}×{} pixels; it must be at least 1×1",
            viewport.width, viewport.height
        )));
    }
    if info.screen_width == 0 || info.screen_height == 0 {
        return Err(ViewerError::Invalid(
            "the recording has no frames, so there is no screen to map to".to_owned(),
        ));
    }
    if !p.x.is_finite() || !p.y.is_finite() {
        return Err(ViewerError::Invalid(format!(
            "the point ({}, {}) is not a position",
            p.x, p.y
        )));
    }
    let (width, height) = (f64::from(viewport.width), f64::from(viewport.height));
    if !(0.0..=width).contains(&p.x) || !(0.0..=height).contains(&p.y) {
        return Err(ViewerError::Invalid(format!(
            "the point ({}, {}) is outside the {}×{} viewport",
            p.x, p.y, viewport.width, viewport.height
        )));
    }
    let screen = (f64::from(info.screen_width), f64::from(info.screen_height));
    Ok(letterbox::map((width, height), screen, (p.x, p.y)).map(|(x, y)| Point { x, y }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(screen_width: u32, screen_height: u32) -> RecordingInfo {
        RecordingInfo {
            id: "rec-1".to_owned(),
            title: None,
            duration_ms: 0,
            steps: 0,
            frames: u32::from(screen_width > 0),
            screen_width,
            screen_height,
        }
    }

    fn size(width: u32, height: u32) -> Size {
        Size { width, height }
    }

    fn point(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    #[test]
    fn maps_a_point_or_says_it_is_on_a_bar() {
        let wide = info(1600, 900);
        assert_eq!(
            map_input(&wide, size(800, 600), point(400.0, 300.0)),
            Ok(Some(point(800.0, 450.0)))
        );
        assert_eq!(
            map_input(&wide, size(800, 600), point(400.0, 10.0)),
            Ok(None)
        );
    }

    #[test]
    fn refuses_a_request_it_cannot_answer() {
        let wide = info(1600, 900);
        assert_eq!(
            map_input(&wide, size(0, 600), point(0.0, 0.0)),
            Err(ViewerError::Invalid(
                "the viewport is 0×600 pixels; it must be at least 1×1".to_owned()
            ))
        );
        assert_eq!(
            map_input(&info(0, 0), size(800, 600), point(0.0, 0.0)),
            Err(ViewerError::Invalid(
                "the recording has no frames, so there is no screen to map to".to_owned()
            ))
        );
        assert_eq!(
            map_input(&wide, size(800, 600), point(f64::NAN, 1.0)),
            Err(ViewerError::Invalid(
                "the point (NaN, 1) is not a position".to_owned()
            ))
        );
        assert_eq!(
            map_input(&wide, size(800, 600), point(900.0, 10.5)),
            Err(ViewerError::Invalid(
                "the point (900, 10.5) is outside the 800×600 viewport".to_owned()
            ))
        );
    }

    #[test]
    fn answers_not_found_until_a_recording_is_open() {
        let message = "no recording is open: call open with its id first".to_owned();
        assert_eq!(
            Plugin::timeline(),
            Err(ViewerError::NotFound(message.clone()))
        );
        assert_eq!(
            Plugin::get_frame(FrameSelector::Index(0)),
            Err(ViewerError::NotFound(message.clone()))
        );
        assert_eq!(
            Plugin::map_input(size(1, 1), point(0.0, 0.0)),
            Err(ViewerError::NotFound(message))
        );
        assert!(matches!(Plugin::open("../x"), Err(ViewerError::Invalid(_))));
    }
}
