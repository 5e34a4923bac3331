//! Typed adapters for the plugin kinds: each turns a kind's exported world into plain
//! Rust calls on a [`crate::runtime::Plugin`]. Calls run in a fresh instance each,
//! except a recorder's session, which lives in one instance from start to stop.

/// Host bindings for one plugin kind's world: its exports made async, its capability
/// imports the host's one set of bindings (`crate::caps::bindings`).
macro_rules! world_bindings {
    ($world:tt) => {
        // Generated from the WIT, whose doc comments are the documentation.
        #[allow(missing_docs)]
        mod generated {
            wasmtime::component::bindgen!({
                world: $world,
                path: "../wit/0.1.0",
                exports: { default: async },
                with: {
                    "pincer:plugin/log": crate::caps::bindings::pincer::plugin::log,
                    "pincer:plugin/http": crate::caps::bindings::pincer::plugin::http,
                    "pincer:plugin/secrets": crate::caps::bindings::pincer::plugin::secrets,
                    "pincer:plugin/kv": crate::caps::bindings::pincer::plugin::kv,
                    "pincer:plugin/approval": crate::caps::bindings::pincer::plugin::approval,
                    "pincer:plugin/config": crate::caps::bindings::pincer::plugin::config,
                },
            });
        }
        pub use generated::*;
    };
}

pub mod chat;
pub mod mcp;
pub mod recording;

use crate::runtime::InstanceState;

/// A loaded plugin's instance factory, typed by its kind's world.
pub(crate) enum KindPre {
    /// An `mcp-server` plugin.
    Mcp(mcp::McpServerPre<InstanceState>),
    /// A `chat` plugin.
    Chat(chat::ChatPre<InstanceState>),
    /// A `recorder` plugin.
    Recorder(recording::recorder::RecorderPre<InstanceState>),
    /// A `viewer` plugin.
    Viewer(recording::viewer::ViewerPre<InstanceState>),
}
