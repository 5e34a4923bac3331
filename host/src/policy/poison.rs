//! The tool-poisoning review. (Being written.)

use serde::Serialize;

use crate::kinds::mcp::ToolInfo;
use crate::policy::risk::Risk;

/// One thing in a tool's definition that an admin should look at before approving it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The tool.
    pub tool: String,
    /// The field: `title`, `description`, or a place in a schema such as
    /// `input_schema/properties/path/description`.
    pub field: String,
    /// The rule that matched.
    pub rule: String,
    /// How much it matters.
    pub risk: Risk,
    /// Where the span starts in the field's text, in characters.
    pub start: usize,
    /// Where it ends (exclusive), in characters.
    pub end: usize,
    /// The span with a little context, invisible characters shown escaped.
    pub excerpt: String,
    /// What it is and why it matters.
    pub message: String,
}

/// Review every text of `tools`.
pub fn scan(_tools: &[ToolInfo]) -> Vec<Finding> {
    Vec::new()
}
