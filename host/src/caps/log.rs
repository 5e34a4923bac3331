//! The log capability, always granted: the `pincer:plugin/log` interface and the
//! plugin's stdout and stderr, all sent to the host's log tagged with the plugin id.
//!
//! Both are bounded per instance: at most [`MAX_LINES`] log calls and
//! [`MAX_OUTPUT_BYTES`] of stdout/stderr each; the rest is dropped and counted, never
//! queued. A plugin that writes too much keeps running; it only loses lines. The last
//! lines of stderr are kept to explain a fault (a panic message, say). Every line is
//! passed through the call's [`CallRedactor`] before it reaches the log, so that no
//! secret value the plugin holds is written there.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use wasmtime::component::{HasData, Linker};

use super::bindings::pincer::plugin::log::{self as wit, Host, Level};
use super::redact::{CallRedactor, Place};
use super::{CapsView, View};

/// Log calls per instance before further ones are dropped.
pub const MAX_LINES: u32 = 1000;
/// Characters per log line before it is truncated.
pub const MAX_LINE_CHARS: usize = 4096;
/// Bytes of stdout, and of stderr, kept per instance.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Where a front end wants a call's log lines as well as in the host's log (an MCP
/// client that asked for them): each line's level and its text, redacted and printable.
pub type LogSink = Arc<dyn Fn(Level, &str) + Send + Sync>;

/// Per-instance state of the log capability: how many lines it wrote and dropped.
#[derive(Debug, Default)]
pub struct LogState {
    lines: u32,
    dropped: u32,
}

impl LogState {
    /// Log calls dropped because the instance went over [`MAX_LINES`].
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = View<'a, LogState>;
}

/// Link `pincer:plugin/log`.
pub fn add_to_linker<T: CapsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasLog>(linker, |t| {
        let caps = t.caps().caps;
        View {
            call: &caps.call,
            state: &mut caps.log,
        }
    })
}

impl Host for View<'_, LogState> {
    fn log(&mut self, level: Level, message: String) {
        // Always granted: there is no grant to check. The bound is the only gate.
        let state = &mut *self.state;
        if state.lines >= MAX_LINES {
            state.dropped += 1;
            return;
        }
        state.lines += 1;
        // Redacted whole, then cut: a cut value would leak its first part.
        let message = self.call.redact.text(&message, Place::Log);
        let message = crate::text::printable(truncate(&message, MAX_LINE_CHARS));
        let plugin = &*self.call.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
        if let Some(sink) = &self.call.log_sink {
            sink(level, &message);
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Captures one of a plugin's output streams (stdout or stderr) into a bounded buffer.
/// Writes past the bound succeed and are dropped, so a chatty plugin never fails on
/// `println!`.
#[derive(Clone, Debug, Default)]
pub struct OutputCapture {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

impl OutputCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, buf: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_OUTPUT_BYTES.saturating_sub(c.bytes.len());
        let take = room.min(buf.len());
        c.bytes.extend_from_slice(&buf[..take]);
        c.dropped += buf.len() - take;
    }

    /// Everything captured, as text.
    pub fn text(&self) -> String {
        let c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&c.bytes).into_owned()
    }

    /// Send what was captured to the host log, redacted by `redact`, one event per
    /// line, tagged with the plugin and the stream's name (`place`: stdout or stderr).
    pub fn flush_to_log(&self, plugin: &str, place: Place, redact: &CallRedactor) {
        let stream = place.as_str();
        let text = self.text();
        let text = redact.text(&text, place);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let line = crate::text::printable(truncate(line, MAX_LINE_CHARS));
            tracing::info!(target: "plugin", plugin, stream, "{line}");
        }
        let dropped = self.inner.lock().map(|c| c.dropped).unwrap_or(0);
        if dropped > 0 {
            tracing::warn!(target: "plugin", plugin, stream, "dropped {dropped} bytes of output over the {MAX_OUTPUT_BYTES}-byte limit");
        }
    }
}

impl IsTerminal for OutputCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputCapture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputCapture {
    async fn ready(&mut self) {}
}

impl OutputStream for OutputCapture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_OUTPUT_BYTES)
    }
}

impl tokio::io::AsyncWrite for OutputCapture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_output_up_to_the_limit_and_counts_the_rest() {
        let capture = OutputCapture::new();
        capture.push(&vec![b'a'; MAX_OUTPUT_BYTES - 1]);
        capture.push(b"bcd");
        assert_eq!(capture.text().len(), MAX_OUTPUT_BYTES);
        assert_eq!(capture.inner.lock().unwrap().dropped, 2);
    }

    #[test]
    fn drops_log_lines_past_the_limit() {
        let fixture = crate::caps::testing::Fixture::new();
        let mut caps = fixture.instance("");
        let mut view = View {
            call: &caps.call,
            state: &mut caps.log,
        };
        for _ in 0..MAX_LINES + 5 {
            view.log(Level::Trace, "line".into());
        }
        assert_eq!(caps.log_lines_dropped(), 5);
    }
}
