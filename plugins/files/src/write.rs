//! `write_file`, `create_directory` and `move_file`: the tools that change the
//! workspace besides `edit_file`. Each first checks that the mount is read-write.

use std::fs;
use std::io::ErrorKind;

use pincer_sdk::{CallResult, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::Outcome;
use crate::mount::{io_failure, require_writable};
use crate::paths::{WORKSPACE, resolve};

/// Arguments of `write_file`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    #[schemars(description = path_description!("The file to write."))]
    path: String,
    /// The file's new contents, as text.
    content: String,
}

/// Arguments of `create_directory`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectory {
    #[schemars(description = path_description!("The directory to create."))]
    path: String,
}

/// Arguments of `move_file`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveFile {
    #[schemars(description = path_description!("The file or directory to move."))]
    source: String,
    #[schemars(description = path_description!("Its new path, which must not exist yet."))]
    destination: String,
}

pub fn write_file(args: WriteFile) -> Outcome {
    let path = resolve(&args.path)?;
    require_writable()?;
    fs::write(&path, &args.content).map_err(|e| match e.kind() {
        ErrorKind::NotFound => missing_parent(&format!("write {path}"), &path),
        _ => io_failure("write", &path, &e),
    })?;
    Ok(CallResult::text(format!(
        "Wrote {} bytes to {path}.",
        args.content.len()
    )))
}

pub fn create_directory(args: CreateDirectory) -> Outcome {
    let path = resolve(&args.path)?;
    require_writable()?;
    fs::create_dir_all(&path).map_err(|e| io_failure("create the directory", &path, &e))?;
    Ok(CallResult::text(format!("The directory {path} exists.")))
}

pub fn move_file(args: MoveFile) -> Outcome {
    let source = resolve(&args.source)?;
    let destination = resolve(&args.destination)?;
    if source == WORKSPACE || destination == WORKSPACE {
        return Err(ToolError::Failed(format!(
            "The workspace itself, {WORKSPACE}, cannot be moved or replaced."
        )));
    }
    require_writable()?;
    fs::symlink_metadata(&source).map_err(|e| io_failure("move", &source, &e))?;
    match fs::symlink_metadata(&destination) {
        Ok(_) => {
            return Err(ToolError::Failed(format!(
                "Cannot move {source} to {destination}: the destination already exists. Move or rename it first."
            )));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_failure("move to", &destination, &e)),
    }
    fs::rename(&source, &destination).map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            missing_parent(&format!("move {source} to {destination}"), &destination)
        }
        _ => ToolError::Failed(format!("Cannot move {source} to {destination}: {e}.")),
    })?;
    Ok(CallResult::text(format!(
        "Moved {source} to {destination}."
    )))
}

/// Could not `action` (such as `write /workspace/a/b`) because the directory that
/// would hold `path` does not exist.
fn missing_parent(action: &str, path: &str) -> ToolError {
    let parent = path
        .rsplit_once('/')
        .map_or(WORKSPACE, |(parent, _)| parent);
    ToolError::Failed(format!(
        "Cannot {action}: the directory {parent} does not exist. Create it first with create_directory."
    ))
}
