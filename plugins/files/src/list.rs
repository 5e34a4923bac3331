//! `list_directory`, `list_directory_with_sizes` and `directory_tree`, with the limits
//! that keep a huge directory from flooding the model.

use std::fs;

use pincer_sdk::{CallResult, Content, ToolError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Outcome;
use crate::mount::io_failure;
use crate::paths::{join, resolve};
use crate::search::{EXCLUDE_PATTERNS, Excludes};

/// The most entries one listing shows.
const MAX_LISTED: usize = 10_000;

/// The most entries `directory_tree` returns, over all levels.
const MAX_TREE_ENTRIES: usize = 10_000;

/// How deep `directory_tree` descends.
const MAX_TREE_DEPTH: usize = 64;

/// Arguments of `list_directory`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirectory {
    #[schemars(description = path_description!("The directory to list; `.` for the workspace itself."))]
    path: String,
}

/// Arguments of `list_directory_with_sizes`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListDirectoryWithSizes {
    #[schemars(description = path_description!("The directory to list; `.` for the workspace itself."))]
    path: String,
    /// Sort by name (A to Z) or by size (largest first).
    #[serde(default)]
    sort_by: SortBy,
}

/// The order of `list_directory_with_sizes`. (Plain comments on the variants: doc
/// comments would turn the schema's `enum` into a `oneOf`.)
#[derive(Deserialize, Serialize, JsonSchema, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum SortBy {
    // By name, A to Z.
    #[default]
    Name,
    // Largest first.
    Size,
}

/// Arguments of `directory_tree`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DirectoryTree {
    #[schemars(description = path_description!("The directory at the top of the tree; `.` for the workspace itself."))]
    path: String,
    #[serde(default)]
    #[schemars(description = EXCLUDE_PATTERNS)]
    exclude_patterns: Vec<String>,
}

/// One name in a directory.
pub struct Entry {
    /// The file name.
    pub name: String,
    /// Whether it is a directory itself (a symlink to one is not).
    pub is_dir: bool,
}

/// The entries of the directory at the resolved `dir`, sorted by name.
pub fn entries(dir: &str) -> Result<Vec<Entry>, ToolError> {
    let list = |e: std::io::Error| io_failure("list", dir, &e);
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(list)? {
        let entry = entry.map_err(list)?;
        entries.push(Entry {
            name: entry.file_name().to_string_lossy().into_owned(),
            is_dir: entry.file_type().is_ok_and(|t| t.is_dir()),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

pub fn list_directory(args: ListDirectory) -> Outcome {
    let path = resolve(&args.path)?;
    let entries = entries(&path)?;
    if entries.is_empty() {
        return Ok(CallResult::text(format!("{path} is empty.")));
    }
    let mut lines: Vec<String> = entries
        .iter()
        .take(MAX_LISTED)
        .map(|e| format!("{} {}", tag(e.is_dir), e.name))
        .collect();
    if entries.len() > MAX_LISTED {
        lines.push(format!(
            "... and {} more entries not shown",
            entries.len() - MAX_LISTED
        ));
    }
    Ok(CallResult::text(lines.join("\n")))
}

pub fn list_directory_with_sizes(args: ListDirectoryWithSizes) -> Outcome {
    let path = resolve(&args.path)?;
    let mut sized: Vec<(Entry, u64)> = entries(&path)?
        .into_iter()
        .map(|e| {
            let size = if e.is_dir {
                0
            } else {
                fs::metadata(join(&path, &e.name)).map_or(0, |m| m.len())
            };
            (e, size)
        })
        .collect();
    if args.sort_by == SortBy::Size {
        sized.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.name.cmp(&b.0.name)));
    }
    let files = sized.iter().filter(|(e, _)| !e.is_dir).count();
    let total: u64 = sized.iter().map(|(_, size)| size).sum();
    let mut lines: Vec<String> = sized
        .iter()
        .take(MAX_LISTED)
        .map(|(e, size)| {
            let size = if e.is_dir {
                String::new()
            } else {
                format_size(*size)
            };
            format!("{} {:<30} {:>10}", tag(e.is_dir), e.name, size)
                .trim_end()
                .to_owned()
        })
        .collect();
    if sized.len() > MAX_LISTED {
        lines.push(format!(
            "... and {} more entries not shown",
            sized.len() - MAX_LISTED
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "Total: {files} files, {} directories",
        sized.len() - files
    ));
    lines.push(format!("Combined size: {}", format_size(total)));
    Ok(CallResult::text(lines.join("\n")))
}

pub fn directory_tree(args: DirectoryTree) -> Outcome {
    let root = resolve(&args.path)?;
    let excludes = Excludes::new(&args.exclude_patterns)?;
    let mut walk = TreeWalk {
        excludes,
        left: MAX_TREE_ENTRIES,
        cut: false,
        unreadable: Vec::new(),
    };
    let top = entries(&root)?;
    let tree = walk.nodes(&root, "", top, 0);
    let json = serde_json::to_string_pretty(&tree)
        .map_err(|e| ToolError::Failed(format!("Cannot show the tree of {root}: {e}.")))?;
    let mut content = vec![Content::Text(json)];
    let mut notes = Vec::new();
    if walk.cut {
        notes.push(format!(
            "The tree was cut short: it shows at most {MAX_TREE_ENTRIES} entries and {MAX_TREE_DEPTH} levels. Exclude directories with `excludePatterns` or start from a deeper `path`."
        ));
    }
    if !walk.unreadable.is_empty() {
        notes.push(format!(
            "These directories could not be read and show no children: {}",
            walk.unreadable.join(", ")
        ));
    }
    if !notes.is_empty() {
        content.push(Content::Text(notes.join("\n")));
    }
    Ok(CallResult {
        content,
        structured_content: None,
        is_error: false,
    })
}

/// One entry of `directory_tree`'s JSON.
#[derive(Serialize)]
struct Node {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    children: Option<Vec<Node>>,
}

/// The state of one `directory_tree` walk.
struct TreeWalk {
    excludes: Excludes,
    /// How many more entries the tree may hold.
    left: usize,
    /// Whether an entry or a level was left out for the limits.
    cut: bool,
    /// Directories below the root that could not be listed.
    unreadable: Vec<String>,
}

impl TreeWalk {
    /// The nodes for `listing`, the entries of `dir`, which is `relative` below the
    /// tree's root and `depth` levels down.
    fn nodes(&mut self, dir: &str, relative: &str, listing: Vec<Entry>, depth: usize) -> Vec<Node> {
        let mut nodes = Vec::new();
        for entry in listing {
            let relative = join(relative, &entry.name);
            if self.excludes.matches(&relative, &entry.name) {
                continue;
            }
            if self.left == 0 {
                self.cut = true;
                break;
            }
            self.left -= 1;
            let children = entry.is_dir.then(|| {
                let path = join(dir, &entry.name);
                if depth + 1 >= MAX_TREE_DEPTH {
                    self.cut = true;
                    return Vec::new();
                }
                match entries(&path) {
                    Ok(inner) => self.nodes(&path, &relative, inner, depth + 1),
                    Err(_) => {
                        self.unreadable.push(path);
                        Vec::new()
                    }
                }
            });
            nodes.push(Node {
                kind: if entry.is_dir { "directory" } else { "file" },
                name: entry.name,
                children,
            });
        }
        nodes
    }
}

fn tag(is_dir: bool) -> &'static str {
    if is_dir { "[DIR]" } else { "[FILE]" }
}

/// `1.50 KB` for 1536 bytes: bytes below 1 KiB, otherwise two decimals of the largest
/// binary unit that fits, up to TB.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_like_the_reference_server() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.00 KB");
        assert_eq!(format_size(1536), "1.50 KB");
        assert_eq!(format_size(5 * 1024 * 1024), "5.00 MB");
        assert_eq!(format_size(3 << 40), "3.00 TB");
        assert_eq!(format_size(2048 << 40), "2048.00 TB");
    }
}
