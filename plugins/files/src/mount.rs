//! The workspace mount as the host granted it, and what the sandbox's errors mean.
//!
//! Nothing here widens access: it reads the preopen's flags so that a write to a
//! read-only mount is explained before it is tried, and turns OS errors into sentences
//! a model can act on.

use std::io;

use pincer_sdk::ToolError;
use wasip2::filesystem::{preopens, types::DescriptorFlags};

use crate::paths::WORKSPACE;

/// How the host mounted the workspace for this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Files may be read, created, changed and moved.
    ReadWrite,
    /// Files may be read and listed only.
    ReadOnly,
    /// Nothing is mounted at the workspace path.
    NotMounted,
}

impl Access {
    /// The workspace's access, from its preopen's descriptor flags.
    pub fn of_workspace() -> Access {
        let Some((dir, _)) = preopens::get_directories()
            .into_iter()
            .find(|(_, path)| path == WORKSPACE)
        else {
            return Access::NotMounted;
        };
        match dir.get_flags() {
            Ok(flags) if flags.contains(DescriptorFlags::MUTATE_DIRECTORY) => Access::ReadWrite,
            _ => Access::ReadOnly,
        }
    }

    /// `read-write`, `read-only` or `not mounted`.
    pub fn label(self) -> &'static str {
        match self {
            Access::ReadWrite => "read-write",
            Access::ReadOnly => "read-only",
            Access::NotMounted => "not mounted",
        }
    }
}

/// Refuse a change to the workspace unless it is mounted read-write.
pub fn require_writable() -> Result<(), ToolError> {
    match Access::of_workspace() {
        Access::ReadWrite => Ok(()),
        Access::ReadOnly => Err(read_only()),
        Access::NotMounted => Err(not_mounted()),
    }
}

/// The workspace is not there: the host did not grant the mount.
pub fn not_mounted() -> ToolError {
    ToolError::Failed(format!(
        "Nothing is mounted at {WORKSPACE}: the host did not grant this plugin its workspace mount."
    ))
}

fn read_only() -> ToolError {
    ToolError::Failed(format!(
        "The workspace is mounted read-only: files under {WORKSPACE} can be read and listed, but not created, changed or moved."
    ))
}

/// Explain the OS error `err` from trying to `action` (a verb such as `read`) `path`.
pub fn io_failure(action: &str, path: &str, err: &io::Error) -> ToolError {
    use io::ErrorKind::*;
    let reason = match err.kind() {
        NotFound if Access::of_workspace() == Access::NotMounted => return not_mounted(),
        NotFound => "it does not exist".to_owned(),
        // Refused by the host however the open failed (a FIFO without a reader fails
        // to open for writing before its type is seen).
        _ if is_special(path) => "it is not a regular file or a directory (a FIFO, a socket or a device), and Pincer opens only those".to_owned(),
        PermissionDenied => "permission denied by the sandbox (a symlink that leads outside the workspace is refused, and so is a change to a read-only mount)".to_owned(),
        ReadOnlyFilesystem => return read_only(),
        IsADirectory => "it is a directory".to_owned(),
        NotADirectory => "it, or a directory above it, is not a directory".to_owned(),
        AlreadyExists => "it already exists".to_owned(),
        DirectoryNotEmpty => "the directory is not empty".to_owned(),
        InvalidFilename => "the name is not valid here".to_owned(),
        _ => err.to_string(),
    };
    ToolError::Failed(format!("Cannot {action} {path}: {reason}."))
}

/// Whether `path` is there but neither a file, a directory nor a link: a FIFO, a socket
/// or a device, which the host refuses to open (it could wait for ever).
fn is_special(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| {
        let t = m.file_type();
        !t.is_file() && !t.is_dir() && !t.is_symlink()
    })
}
