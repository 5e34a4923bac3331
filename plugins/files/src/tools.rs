//! The tools as clients see them: names, titles, descriptions for the model, and the
//! JSON Schema of each one's arguments. The argument types in the tool modules accept
//! exactly what these schemas describe.

use pincer_sdk::Tool;
use serde_json::{Value, json};

/// Every tool this plugin offers, in the order clients list them.
pub fn all() -> Vec<Tool> {
    vec![
        tool(
            "read_text_file",
            "Read Text File",
            "Read a file in the workspace as text. Give `head` to read only its first N lines or `tail` for its last N lines, not both. Text that is not valid UTF-8 has its invalid bytes replaced; binary files are refused. A whole file may be at most 4 MiB; use `head` or `tail` for larger ones.",
            json!({
                "path": path("The file to read."),
                "head": {"type": "integer", "minimum": 0, "description": "Return only the first N lines."},
                "tail": {"type": "integer", "minimum": 0, "description": "Return only the last N lines."},
            }),
            &["path"],
        ),
        tool(
            "read_media_file",
            "Read Media File",
            "Read an image file in the workspace and return it as an image (PNG, JPEG, GIF, WebP, BMP or SVG, known by the file extension), at most 8 MiB. Audio and other binary files are refused.",
            json!({"path": path("The image file to read.")}),
            &["path"],
        ),
        tool(
            "read_multiple_files",
            "Read Multiple Files",
            "Read several text files at once, which is quicker than reading them one by one when comparing or analysing them. Each file's text follows its path; a file that cannot be read shows its error in its place without failing the others. At most 4 MiB of text in all.",
            json!({
                "paths": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "description": "The files to read, each relative to /workspace or under /workspace/.",
                },
            }),
            &["paths"],
        ),
        tool(
            "write_file",
            "Write File",
            "Create a file, or replace an existing file's contents entirely, with the given text. It overwrites without warning, so use edit_file to change part of a file. The file's directory must exist; create_directory makes it.",
            json!({
                "path": path("The file to write."),
                "content": {"type": "string", "description": "The file's new contents, as text."},
            }),
            &["path", "content"],
        ),
        tool(
            "edit_file",
            "Edit File",
            "Replace text in a text file and return a unified diff of the change. Each edit's `oldText` must match exactly one place in the file: exactly, or line by line ignoring differences in indentation and spacing, in which case the new lines take the file's indentation. Edits apply in order, each to the result of the one before; if any does not match, nothing is written. With `dryRun` the diff is shown and nothing is written.",
            json!({
                "path": path("The file to edit."),
                "edits": {
                    "type": "array",
                    "minItems": 1,
                    "description": "The replacements, applied in order.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "oldText": {"type": "string", "description": "The text to replace; include enough surrounding lines that it matches only one place."},
                            "newText": {"type": "string", "description": "The text to put in its place."},
                        },
                        "required": ["oldText", "newText"],
                        "additionalProperties": false,
                    },
                },
                "dryRun": {"type": "boolean", "default": false, "description": "Show the diff without writing the file."},
            }),
            &["path", "edits"],
        ),
        tool(
            "create_directory",
            "Create Directory",
            "Create a directory, and any missing directories above it. Succeeds without change if it already exists.",
            json!({"path": path("The directory to create.")}),
            &["path"],
        ),
        tool(
            "list_directory",
            "List Directory",
            "List the files and directories in a directory, sorted by name, each marked [FILE] or [DIR].",
            json!({"path": path("The directory to list; `.` for the workspace itself.")}),
            &["path"],
        ),
        tool(
            "list_directory_with_sizes",
            "List Directory with Sizes",
            "List the files and directories in a directory, each marked [FILE] or [DIR], with the size of each file and totals at the end.",
            json!({
                "path": path("The directory to list; `.` for the workspace itself."),
                "sortBy": {"type": "string", "enum": ["name", "size"], "default": "name", "description": "Sort by name (A to Z) or by size (largest first)."},
            }),
            &["path"],
        ),
        tool(
            "directory_tree",
            "Directory Tree",
            "Return the files and directories below a directory, recursively, as a JSON tree. Each entry has a `name` and a `type` (`file` or `directory`); directories also have `children`, possibly empty. At most 10000 entries.",
            json!({
                "path": path("The directory at the top of the tree; `.` for the workspace itself."),
                "excludePatterns": excludes(),
            }),
            &["path"],
        ),
        tool(
            "move_file",
            "Move File",
            "Move or rename a file or directory. Fails if the destination already exists.",
            json!({
                "source": path("The file or directory to move."),
                "destination": path("Its new path, which must not exist yet."),
            }),
            &["source", "destination"],
        ),
        tool(
            "search_files",
            "Search Files",
            "Find files and directories below a directory whose paths match a glob pattern. The pattern is matched against each path relative to `path`: `*.md` matches Markdown files directly in it, `**/*.md` in it and every directory below. Returns full paths, at most 1000.",
            json!({
                "path": path("The directory to search; `.` for the whole workspace."),
                "pattern": {"type": "string", "description": "A glob pattern: `*` and `?` within one directory, `**` across directories, `[abc]` and `{a,b}` alternatives."},
                "excludePatterns": excludes(),
            }),
            &["path", "pattern"],
        ),
        tool(
            "get_file_info",
            "Get File Info",
            "Show a file's or directory's metadata without reading it: type, size, creation, modification and access times where available, and whether it can be changed.",
            json!({"path": path("The file or directory.")}),
            &["path"],
        ),
        tool(
            "list_allowed_directories",
            "List Allowed Directories",
            "List the directories this server can reach (the workspace, /workspace) and whether they are read-only. Everything below them can be reached too.",
            json!({}),
            &[],
        ),
    ]
}

fn tool(name: &str, title: &str, description: &str, properties: Value, required: &[&str]) -> Tool {
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    });
    let mut tool = Tool::new(name, description, &schema.to_string());
    tool.title = Some(title.to_owned());
    tool
}

fn path(what: &str) -> Value {
    json!({
        "type": "string",
        "description": format!("{what} Relative to /workspace, or an absolute path under /workspace/."),
    })
}

fn excludes() -> Value {
    json!({
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Glob patterns to leave out. A pattern without `/` matches names at any depth (`node_modules`, `*.log`); one with `/`, or starting with `./`, matches paths relative to `path` (`docs/*.md`, `./build`). Excluded directories are not entered.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_a_closed_object_with_described_properties() {
        for tool in all() {
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
            for required in schema["required"].as_array().unwrap() {
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
    fn every_tool_has_a_valid_unique_name_and_a_description() {
        let tools = all();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        for tool in &tools {
            assert!(
                tool.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                tool.name
            );
            assert!(!tool.description.is_empty(), "{}", tool.name);
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), tools.len());
    }
}
