//! Tool definitions: what an `mcp-server` plugin says its tools are ([`ToolInfo`]),
//! the definitions an admin approved and the check of listed tools against them
//! ([`pins`], against a rug pull), and the review of definitions for tool poisoning
//! ([`poison`]). Used by `install`, `kinds`, `mcp`, `store` (the pins an approval
//! records) and `admin`; it uses only `policy::risk` (the risk levels of its findings)
//! and `text`.

pub mod pins;
pub mod poison;

use serde::Serialize;

/// A tool as the plugin describes it: what an MCP client's model reads, and what an
/// admin's approval pins ([`pins`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ToolInfo {
    /// Its name.
    pub name: String,
    /// A display title, if any.
    #[serde(default)]
    pub title: Option<String>,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: serde_json::Value,
    /// JSON Schema of its structured result, if any.
    #[serde(default)]
    pub output_schema: Option<serde_json::Value>,
}
