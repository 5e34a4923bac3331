//! The reference filesystem plugin: an MCP server that reads, writes, edits, lists and
//! searches the files of one directory, mounted at `/workspace`.
//!
//! Its tools follow the reference MCP filesystem server (`@modelcontextprotocol/
//! server-filesystem`) in names, arguments and output, so clients and models that know
//! that server know this one. Unlike that server it holds no list of allowed
//! directories: the host's preopen is the boundary, and this plugin only refuses, with a
//! clearer message than the sandbox's, paths that lexically leave the mount.
//!
//! Every failure a model can cause comes back as a value: malformed arguments as
//! `invalid-arguments`, anything else as an `is-error` result that says what went wrong.

/// The description of a path argument: what it names, then how it is resolved.
macro_rules! path_description {
    ($what:literal) => {
        concat!(
            $what,
            " Relative to /workspace, or an absolute path under /workspace/."
        )
    };
}

mod edit;
mod info;
mod list;
mod mount;
mod paths;
mod read;
mod search;
mod tools;
mod write;

use pincer_sdk::{CallResult, McpServer, ToolError, Toolbox};

struct Files;

impl McpServer for Files {
    fn toolbox() -> Toolbox {
        tools::toolbox()
    }
}

pincer_sdk::mcp_server!(Files);

/// What most tools' handlers return: a result, or why there is none.
type Outcome = Result<CallResult, ToolError>;
