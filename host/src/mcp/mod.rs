//! The MCP server (`pincer mcp`): the tools, resources and prompts of every installed,
//! approved `mcp-server` plugin, served with `rmcp` over stdio or Streamable HTTP.
//!
//! A tool is named `<alias>__<tool>`, the alias being the last segment of the plugin's
//! id unless an admin chose another ([`alias`]). Descriptions and schemas pass through
//! unchanged. A plugin's own error is an `isError` result with its message; a plugin
//! fault (trap, timeout, memory) is an `isError` result that names the fault, and the
//! server goes on. A cancelled request stops its plugin call at once. The registry is
//! reloaded when the install store changes, and every client is told
//! (`notifications/tools/list_changed`). A plugin's `ask` approvals go to the client
//! that made the call, as an elicitation, when it supports that.
//!
//! Only tools whose definitions an admin approved are served ([`crate::tools::pins`]):
//! the tools are listed again whenever a client asks for the list and every
//! [`Serve::tools_refresh`], and a tool that differs from its pin, or is new, is
//! withheld (not listed; a call says why and what the admin can do), audited once per
//! definition, and clients are told the list changed.
//!
//! Files: `registry.rs` (what is served, under which names), `server.rs` (the
//! server's state, its watch of the install store, tool calls), `handler.rs` (the
//! protocol requests); [`http`] and [`stdio`] are the transports. It never runs a plugin that `Runtime::load_installed` refused.

pub mod alias;
mod approver;
mod handler;
pub mod http;
mod registry;
mod server;
mod stdio;
mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

// `logging/setLevel` is deprecated after 2025-11-25 (SEP-2577), but the versions this
// server speaks have it.
use rmcp::model::ProtocolVersion;

use crate::runtime::Runtime;

/// Protocol versions this server speaks.
pub const PROTOCOL_VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// The separator between a plugin's alias and its tool's name.
pub const SEPARATOR: &str = "__";

/// How often a running server looks for installs, updates and removals.
pub(super) const WATCH_EVERY: Duration = Duration::from_millis(500);

/// What `pincer mcp` serves, and how.
#[derive(Debug, Clone)]
pub struct Serve {
    /// Streamable HTTP on this loopback address; stdio when `None`.
    pub http: Option<SocketAddr>,
    /// Browser origins allowed to call the HTTP endpoint.
    pub allowed_origins: Vec<String>,
    /// Serve only these plugins; all when empty.
    pub plugins: Vec<String>,
    /// On stdio, how long to watch stdin for the next message before sleeping
    /// ([`await_stdin`]).
    pub busy_poll: std::time::Duration,
    /// How often to list every plugin's tools again, to withhold a tool whose
    /// definition changed (a `remote` adapter's server can change at any time).
    pub tools_refresh: Duration,
}

/// The default of `pincer mcp --tools-refresh`.
pub const DEFAULT_TOOLS_REFRESH: Duration = Duration::from_secs(30);

/// The default of `pincer mcp --busy-poll-us`: long enough to cover a client that
/// sends its next call as soon as it has read an answer (a pipe hop is about 40 µs on
/// a virtual machine), short enough that an idle server costs nothing measurable.
pub const DEFAULT_BUSY_POLL_US: u64 = 250;

pub use stdio::await_stdin;

/// Serve until the client closes stdin (stdio) or the process is interrupted (HTTP).
pub async fn serve(runtime: Arc<Runtime>, serve: Serve) -> Result<(), String> {
    let server = Server::start(runtime, serve.plugins, serve.tools_refresh).await?;
    match serve.http {
        Some(addr) => http::serve(server, addr, serve.allowed_origins).await,
        None => stdio::serve(server).await,
    }
}

pub(crate) use registry::Fingerprint;
pub use registry::{Registry, valid_tool_name};
pub(crate) use server::AfterSend;
pub use server::Server;
