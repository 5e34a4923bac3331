//! The tools as clients see them: names, titles, descriptions for the model, and the
//! handler of each. Each handler's argument type, in its tool module, gives the tool's
//! JSON Schema and accepts exactly what it describes.

use pincer_sdk::Toolbox;

use crate::{edit, info, list, read, search, write};

/// Every tool this plugin offers, in the order clients list them.
pub fn toolbox() -> Toolbox {
    Toolbox::new()
        .tool(
            "read_text_file",
            "Read a file in the workspace as text. Give `head` to read only its first N lines or `tail` for its last N lines, not both. Text that is not valid UTF-8 has its invalid bytes replaced; binary files are refused. A whole file may be at most 4 MiB; use `head` or `tail` for larger ones.",
            read::read_text_file,
        )
        .title("Read Text File")
        .tool(
            "read_media_file",
            "Read an image file in the workspace and return it as an image (PNG, JPEG, GIF, WebP, BMP or SVG, known by the file extension), at most 8 MiB. Audio and other binary files are refused.",
            read::read_media_file,
        )
        .title("Read Media File")
        .tool(
            "read_multiple_files",
            "Read several text files at once, which is quicker than reading them one by one when comparing or analysing them. Each file's text follows its path; a file that cannot be read shows its error in its place without failing the others. At most 4 MiB of text in all.",
            read::read_multiple_files,
        )
        .title("Read Multiple Files")
        .tool(
            "write_file",
            "Create a file, or replace an existing file's contents entirely, with the given text. It overwrites without warning, so use edit_file to change part of a file. The file's directory must exist; create_directory makes it.",
            write::write_file,
        )
        .title("Write File")
        .tool(
            "edit_file",
            "Replace text in a text file and return a unified diff of the change. Each edit's `oldText` must match exactly one place in the file: exactly, or line by line ignoring differences in indentation and spacing, in which case the new lines take the file's indentation. Edits apply in order, each to the result of the one before; if any does not match, nothing is written. With `dryRun` the diff is shown and nothing is written.",
            edit::edit_file,
        )
        .title("Edit File")
        .tool(
            "create_directory",
            "Create a directory, and any missing directories above it. Succeeds without change if it already exists.",
            write::create_directory,
        )
        .title("Create Directory")
        .tool(
            "list_directory",
            "List the files and directories in a directory, sorted by name, each marked [FILE] or [DIR].",
            list::list_directory,
        )
        .title("List Directory")
        .tool(
            "list_directory_with_sizes",
            "List the files and directories in a directory, each marked [FILE] or [DIR], with the size of each file and totals at the end.",
            list::list_directory_with_sizes,
        )
        .title("List Directory with Sizes")
        .tool(
            "directory_tree",
            "Return the files and directories below a directory, recursively, as a JSON tree. Each entry has a `name` and a `type` (`file` or `directory`); directories also have `children`, possibly empty. At most 10000 entries.",
            list::directory_tree,
        )
        .title("Directory Tree")
        .tool(
            "move_file",
            "Move or rename a file or directory. Fails if the destination already exists.",
            write::move_file,
        )
        .title("Move File")
        .tool(
            "search_files",
            "Find files and directories below a directory whose paths match a glob pattern. The pattern is matched against each path relative to `path`: `*.md` matches Markdown files directly in it, `**/*.md` in it and every directory below. Returns full paths, at most 1000.",
            search::search_files,
        )
        .title("Search Files")
        .tool(
            "get_file_info",
            "Show a file's or directory's metadata without reading it: type, size, creation, modification and access times where available, and whether it can be changed.",
            info::get_file_info,
        )
        .title("Get File Info")
        .tool(
            "list_allowed_directories",
            "List the directories this server can reach (the workspace, /workspace) and whether they are read-only. Everything below them can be reached too.",
            info::list_allowed_directories,
        )
        .title("List Allowed Directories")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_sdk::{Args, CallError};
    use serde_json::Value;

    #[test]
    fn every_schema_is_a_closed_object_with_described_properties() {
        for tool in toolbox().tools() {
            let schema: Value = serde_json::from_str(&tool.input_schema).unwrap();
            assert_eq!(schema["type"], "object", "{}", tool.name);
            assert_eq!(schema["additionalProperties"], false, "{}", tool.name);
            let properties = schema["properties"].as_object().unwrap();
            for (key, property) in properties {
                assert!(
                    property["description"].is_string(),
                    "{}.{key} has no description",
                    tool.name
                );
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let required = required.as_str().unwrap();
                assert!(
                    properties.contains_key(required),
                    "{} requires an unknown {required}",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn every_tool_has_a_valid_unique_name_a_title_and_a_description() {
        let tools = toolbox().tools();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        for tool in &tools {
            assert!(
                tool.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                tool.name
            );
            assert!(tool.title.is_some(), "{}", tool.name);
            assert!(!tool.description.is_empty(), "{}", tool.name);
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), tools.len());
    }

    #[test]
    fn every_listed_tool_checks_its_arguments() {
        let toolbox = toolbox();
        for tool in toolbox.tools() {
            let mut args = Args::new();
            args.insert("bogus".to_owned(), Value::Bool(true));
            match toolbox.call(&tool.name, args) {
                Err(CallError::InvalidArguments(message)) => assert!(
                    message.contains("unknown field `bogus`"),
                    "{}: {message}",
                    tool.name
                ),
                other => panic!("{}: expected an arguments error, got {other:?}", tool.name),
            }
        }
    }

    #[test]
    fn reports_a_missing_argument_by_name() {
        match toolbox().call("read_text_file", Args::new()) {
            Err(CallError::InvalidArguments(message)) => {
                assert!(message.contains("`path`"), "{message}")
            }
            other => panic!("expected an arguments error, got {other:?}"),
        }
    }
}
