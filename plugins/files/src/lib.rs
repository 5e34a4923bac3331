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

mod edit;
mod info;
mod list;
mod mount;
mod paths;
mod read;
mod search;
mod tools;
mod write;

use pincer_sdk::{Args, CallError, CallResult, McpServer, Tool, ToolOutcome};
use serde::de::DeserializeOwned;

struct Files;

impl McpServer for Files {
    fn tools() -> Vec<Tool> {
        tools::all()
    }

    fn call(name: &str, args: Args) -> ToolOutcome {
        match run(name, args) {
            Ok(result) => Ok(result),
            Err(Failure::Tool(message)) => Ok(CallResult::error(message)),
            Err(Failure::Arguments(message)) => Err(CallError::InvalidArguments(message)),
            Err(Failure::UnknownTool(name)) => Err(CallError::UnknownTool(name)),
        }
    }
}

pincer_sdk::mcp_server!(Files);

/// Why a tool call did not succeed.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// No tool has this name.
    UnknownTool(String),
    /// The arguments are not what the tool takes: a `call-error`.
    Arguments(String),
    /// The tool ran and could not do what was asked: an `is-error` result whose text
    /// tells the model why.
    Tool(String),
}

/// What a tool's handler returns.
type Outcome = Result<CallResult, Failure>;

fn run(name: &str, args: Args) -> Outcome {
    match name {
        "read_text_file" => read::read_text_file(parse(args)?),
        "read_media_file" => read::read_media_file(parse(args)?),
        "read_multiple_files" => read::read_multiple_files(parse(args)?),
        "write_file" => write::write_file(parse(args)?),
        "edit_file" => edit::edit_file(parse(args)?),
        "create_directory" => write::create_directory(parse(args)?),
        "list_directory" => list::list_directory(parse(args)?),
        "list_directory_with_sizes" => list::list_directory_with_sizes(parse(args)?),
        "directory_tree" => list::directory_tree(parse(args)?),
        "move_file" => write::move_file(parse(args)?),
        "search_files" => search::search_files(parse(args)?),
        "get_file_info" => info::get_file_info(parse(args)?),
        "list_allowed_directories" => info::list_allowed_directories(parse(args)?),
        other => Err(Failure::UnknownTool(other.to_owned())),
    }
}

/// Read a tool's arguments into its argument type, or say what is wrong with them.
fn parse<T: DeserializeOwned>(args: Args) -> Result<T, Failure> {
    serde_json::from_value(serde_json::Value::Object(args))
        .map_err(|e| Failure::Arguments(e.to_string()))
}

/// A tool's arguments when it takes none.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArguments {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_tool_is_dispatched_and_checks_its_arguments() {
        for tool in tools::all() {
            let mut args = Args::new();
            args.insert("bogus".to_owned(), serde_json::Value::Bool(true));
            match run(&tool.name, args) {
                Err(Failure::Arguments(message)) => assert!(
                    message.contains("unknown field `bogus`"),
                    "{}: {message}",
                    tool.name
                ),
                other => panic!("{}: expected an arguments error, got {other:?}", tool.name),
            }
        }
    }

    #[test]
    fn refuses_an_unknown_tool() {
        assert_eq!(
            run("delete_everything", Args::new()).unwrap_err(),
            Failure::UnknownTool("delete_everything".to_owned())
        );
    }

    #[test]
    fn reports_a_missing_argument_by_name() {
        match run("read_text_file", Args::new()) {
            Err(Failure::Arguments(message)) => assert!(message.contains("`path`"), "{message}"),
            other => panic!("expected an arguments error, got {other:?}"),
        }
    }
}
