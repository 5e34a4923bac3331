//! Write plugins of the `recorder` and `viewer` kinds.
//!
//! A recorder implements [the `Recorder` trait](crate::recording::Recorder) and exports
//! it with [`recorder_plugin!`](crate::recorder_plugin); a viewer implements [the
//! `Viewer` trait](crate::recording::Viewer) and exports it with
//! [`viewer_plugin!`](crate::viewer_plugin).
//! The types are those of the `recording` and `playback` interfaces of
//! `wit/recording.wit`, re-exported here.
//!
//! ```
//! use pincer_sdk::recording::{Event, Recorder, RecorderError, Summary};
//!
//! struct Tape;
//!
//! // A recorder that accepts no session: `pincer new --kind recorder NAME` makes one
//! // that records.
//! impl Recorder for Tape {
//!     fn start(_title: Option<&str>) -> Result<String, RecorderError> {
//!         Err(RecorderError::Storage("this recorder stores nothing".into()))
//!     }
//!     fn record_event(_event: Event) -> Result<(), RecorderError> {
//!         Err(RecorderError::NoSession)
//!     }
//!     fn record_frame(_time_ms: u64, _jpeg: Vec<u8>) -> Result<(), RecorderError> {
//!         Err(RecorderError::NoSession)
//!     }
//!     fn stop() -> Result<Summary, RecorderError> {
//!         Err(RecorderError::NoSession)
//!     }
//! }
//!
//! pincer_sdk::recorder_plugin!(Tape);
//! ```
//!
//! Both worlds import the same capability interfaces as every other kind; these bindings
//! reuse the crate's (`crate::bindings`), so [`crate::log`], [`crate::kv`] and the others
//! are the ones to call from a recorder or a viewer too.

/// Generated bindings for the `recorder` world. Its capability imports are the crate's.
#[doc(hidden)]
pub mod recorder_bindings {
    wit_bindgen::generate!({
        world: "recorder",
        path: "../../wit/0.1.0",
        with: {
            "pincer:plugin/log@0.1.0": crate::bindings::pincer::plugin::log,
            "pincer:plugin/http@0.1.0": crate::bindings::pincer::plugin::http,
            "pincer:plugin/secrets@0.1.0": crate::bindings::pincer::plugin::secrets,
            "pincer:plugin/kv@0.1.0": crate::bindings::pincer::plugin::kv,
            "pincer:plugin/approval@0.1.0": crate::bindings::pincer::plugin::approval,
            "pincer:plugin/config@0.1.0": crate::bindings::pincer::plugin::config,
        },
        // So that a plugin's tests can compare events, summaries and errors.
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "export_recorder_world",
        default_bindings_module: "pincer_sdk::recording::recorder_bindings",
    });
}

/// Generated bindings for the `viewer` world. Its capability imports are the crate's.
#[doc(hidden)]
pub mod viewer_bindings {
    wit_bindgen::generate!({
        world: "viewer",
        path: "../../wit/0.1.0",
        with: {
            "pincer:plugin/log@0.1.0": crate::bindings::pincer::plugin::log,
            "pincer:plugin/http@0.1.0": crate::bindings::pincer::plugin::http,
            "pincer:plugin/secrets@0.1.0": crate::bindings::pincer::plugin::secrets,
            "pincer:plugin/kv@0.1.0": crate::bindings::pincer::plugin::kv,
            "pincer:plugin/approval@0.1.0": crate::bindings::pincer::plugin::approval,
            "pincer:plugin/config@0.1.0": crate::bindings::pincer::plugin::config,
        },
        // So that a plugin's tests can compare recording info, frames, points and errors.
        additional_derives: [PartialEq],
        pub_export_macro: true,
        export_macro_name: "export_viewer_world",
        default_bindings_module: "pincer_sdk::recording::viewer_bindings",
    });
}

pub use playback::{Frame, FrameSelector, Point, RecordingInfo, Size, Step, ViewerError};
pub use recorder_bindings::exports::pincer::plugin::recording;
pub use recording::{Event, RecorderError, Summary};
pub use viewer_bindings::exports::pincer::plugin::playback;

/// A plugin of the `recorder` kind: it records one workflow session at a time.
///
/// One instance lives for the whole session, so the plugin keeps the session in memory
/// (in a `static`) between calls.
pub trait Recorder {
    /// Start a session, titled `title` if given, and return its recording id.
    /// `already-recording` if a session is active.
    fn start(title: Option<&str>) -> Result<String, RecorderError>;

    /// Record one event of the active session, redacting sensitive input before
    /// anything is written. `no-session` if none is active.
    fn record_event(event: Event) -> Result<(), RecorderError>;

    /// Record one JPEG frame of the active session, taken `time_ms` after its start.
    /// `no-session` if none is active, `invalid` if `jpeg` is not a JPEG.
    fn record_frame(time_ms: u64, jpeg: Vec<u8>) -> Result<(), RecorderError>;

    /// Stop the active session and summarise it. `no-session` if none is active.
    fn stop() -> Result<Summary, RecorderError>;
}

/// A plugin of the `viewer` kind: it shows one open recording at a time.
pub trait Viewer {
    /// Open the recording `id`; later calls work on it.
    fn open(id: &str) -> Result<RecordingInfo, ViewerError>;

    /// The open recording's steps, in time order.
    fn timeline() -> Result<Vec<Step>, ViewerError>;

    /// One frame of the open recording.
    fn get_frame(selector: FrameSelector) -> Result<Frame, ViewerError>;

    /// Map the point `p` of a viewer of size `viewport`, which shows the recorded
    /// screen scaled to fit and letterboxed, to the recorded screen's pixels; `None`
    /// when `p` falls on the letterbox.
    fn map_input(viewport: Size, p: Point) -> Result<Option<Point>, ViewerError>;
}

/// Export a type that implements [the `Recorder` trait](crate::recording::Recorder) as this
/// component's `recorder` world.
#[macro_export]
macro_rules! recorder_plugin {
    ($ty:ident) => {
        impl $crate::recording::recording::Guest for $ty {
            fn start(
                title: ::std::option::Option<::std::string::String>,
            ) -> ::std::result::Result<::std::string::String, $crate::recording::RecorderError>
            {
                <$ty as $crate::recording::Recorder>::start(title.as_deref())
            }
            fn record_event(
                event: $crate::recording::Event,
            ) -> ::std::result::Result<(), $crate::recording::RecorderError> {
                <$ty as $crate::recording::Recorder>::record_event(event)
            }
            fn record_frame(
                time_ms: u64,
                jpeg: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<(), $crate::recording::RecorderError> {
                <$ty as $crate::recording::Recorder>::record_frame(time_ms, jpeg)
            }
            fn stop() -> ::std::result::Result<$crate::recording::Summary, $crate::recording::RecorderError>
            {
                <$ty as $crate::recording::Recorder>::stop()
            }
        }
        $crate::recording::recorder_bindings::export_recorder_world!(
            $ty with_types_in $crate::recording::recorder_bindings
        );
    };
}

/// Export a type that implements [the `Viewer` trait](crate::recording::Viewer) as this
/// component's `viewer` world.
#[macro_export]
macro_rules! viewer_plugin {
    ($ty:ident) => {
        impl $crate::recording::playback::Guest for $ty {
            fn open(
                id: ::std::string::String,
            ) -> ::std::result::Result<$crate::recording::RecordingInfo, $crate::recording::ViewerError>
            {
                <$ty as $crate::recording::Viewer>::open(&id)
            }
            fn timeline() -> ::std::result::Result<
                ::std::vec::Vec<$crate::recording::Step>,
                $crate::recording::ViewerError,
            > {
                <$ty as $crate::recording::Viewer>::timeline()
            }
            fn get_frame(
                selector: $crate::recording::FrameSelector,
            ) -> ::std::result::Result<$crate::recording::Frame, $crate::recording::ViewerError> {
                <$ty as $crate::recording::Viewer>::get_frame(selector)
            }
            fn map_input(
                viewport: $crate::recording::Size,
                p: $crate::recording::Point,
            ) -> ::std::result::Result<
                ::std::option::Option<$crate::recording::Point>,
                $crate::recording::ViewerError,
            > {
                <$ty as $crate::recording::Viewer>::map_input(viewport, p)
            }
        }
        $crate::recording::viewer_bindings::export_viewer_world!(
            $ty with_types_in $crate::recording::viewer_bindings
        );
    };
}

/// Whether `id` is a well-formed recording id: 1 to 64 characters of `a-z`, `0-9` and
/// `-`. A recording lives in the directory named by its id under the `recordings` root,
/// so a plugin builds no path from an id this refuses: such an id cannot hold `/`, `.`
/// or `..`.
pub fn is_recording_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::is_recording_id;

    #[test]
    fn accepts_lower_case_letters_digits_and_dashes() {
        assert!(is_recording_id("rec-20250101-120000-a1b2c3"));
        assert!(is_recording_id("a"));
        assert!(is_recording_id(&"x".repeat(64)));
    }

    #[test]
    fn refuses_ids_that_could_name_another_path() {
        for id in [
            "", "..", ".", "a/b", "../etc", "A", "rec_1", "rec 1", "é", "a\0",
        ] {
            assert!(!is_recording_id(id), "{id:?}");
        }
        assert!(!is_recording_id(&"x".repeat(65)));
    }
}
