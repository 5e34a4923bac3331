//! `get_file_info` and `list_allowed_directories`.

use std::fs;
use std::time::SystemTime;

use pincer_sdk::{CallResult, NoArguments, Structured, ToolError, UtcTime};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Outcome;
use crate::list::format_size;
use crate::mount::{Access, io_failure, not_mounted};
use crate::paths::{WORKSPACE, resolve};

/// Arguments of `get_file_info`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetFileInfo {
    #[schemars(description = path_description!("The file or directory."))]
    path: String,
}

/// What `get_file_info` returns as structured content.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// The resolved path, under /workspace.
    path: String,
    /// `file`, `directory` or `other`, after following a symlink.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Whether the path is a symlink.
    symlink: bool,
    /// The size in bytes.
    size: u64,
    /// When it was created (RFC 3339, UTC), if known.
    created: Option<String>,
    /// When it was last changed (RFC 3339, UTC), if known.
    modified: Option<String>,
    /// When it was last read (RFC 3339, UTC), if known.
    accessed: Option<String>,
    /// Whether it is a directory.
    is_directory: bool,
    /// Whether it is a regular file.
    is_file: bool,
    /// The workspace mount's access: `read-write` or `read-only`.
    permissions: &'static str,
}

pub fn get_file_info(args: GetFileInfo) -> Result<Structured<FileInfo>, ToolError> {
    let path = resolve(&args.path)?;
    let link = fs::symlink_metadata(&path).map_err(|e| io_failure("inspect", &path, &e))?;
    let is_symlink = link.file_type().is_symlink();
    let metadata = if is_symlink {
        fs::metadata(&path).map_err(|e| io_failure("follow the symlink", &path, &e))?
    } else {
        link
    };
    let kind = if metadata.is_dir() {
        "directory"
    } else if metadata.is_file() {
        "file"
    } else {
        "other"
    };
    let time = |t: std::io::Result<SystemTime>| {
        t.ok()
            .and_then(UtcTime::from_system_time)
            .map(|t| t.rfc3339())
    };
    let info = FileInfo {
        path,
        kind,
        symlink: is_symlink,
        size: metadata.len(),
        created: time(metadata.created()),
        modified: time(metadata.modified()),
        accessed: time(metadata.accessed()),
        is_directory: metadata.is_dir(),
        is_file: metadata.is_file(),
        permissions: Access::of_workspace().label(),
    };
    let shown = |t: &Option<String>| t.as_deref().unwrap_or("not available").to_owned();
    let lines = [
        format!("path: {}", info.path),
        format!(
            "type: {kind}{}",
            if is_symlink {
                " (through a symlink)"
            } else {
                ""
            }
        ),
        format!("size: {} ({})", info.size, format_size(info.size)),
        format!("created: {}", shown(&info.created)),
        format!("modified: {}", shown(&info.modified)),
        format!("accessed: {}", shown(&info.accessed)),
        format!("isDirectory: {}", info.is_directory),
        format!("isFile: {}", info.is_file),
        format!(
            "permissions: {} (the workspace mount's access; the sandbox does not show file modes)",
            info.permissions
        ),
    ];
    Ok(Structured::new(info).with_text(lines.join("\n")))
}

pub fn list_allowed_directories(_: NoArguments) -> Outcome {
    match Access::of_workspace() {
        Access::NotMounted => Err(not_mounted()),
        access => Ok(CallResult::text(format!(
            "Allowed directories:\n{WORKSPACE} ({})\n\nPaths may be given relative to {WORKSPACE}.",
            access.label()
        ))),
    }
}
