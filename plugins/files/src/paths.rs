//! The paths a model sends, resolved to guest paths inside the workspace.
//!
//! Resolution is lexical: `.` and `..` are folded without asking the filesystem, and a
//! path that ends up outside `/workspace` is refused with a message that says so. This
//! is a courtesy, not the boundary. The host's preopen is the boundary: it also refuses
//! symlinks inside the mount that lead out of it, which no lexical check can see.

use pincer_sdk::ToolError;

/// Where the manifest mounts the workspace in the guest.
pub const WORKSPACE: &str = "/workspace";

/// Resolve `requested`, relative to the workspace or absolute under it, to a normalised
/// absolute guest path such as `/workspace/src/main.rs`. An empty path or `.` is the
/// workspace itself.
pub fn resolve(requested: &str) -> Result<String, ToolError> {
    if requested.contains('\0') {
        return Err(ToolError::Failed(
            "The path contains a NUL character.".to_owned(),
        ));
    }
    if is_windows_drive_path(requested) {
        return Err(ToolError::Failed(format!(
            "`{requested}` is a Windows path. Paths here are relative to {WORKSPACE} or start with {WORKSPACE}/."
        )));
    }
    if requested == "~" || requested.starts_with("~/") {
        return Err(ToolError::Failed(format!(
            "`{requested}` names a home directory, which this plugin cannot see. Paths are relative to {WORKSPACE} or start with {WORKSPACE}/."
        )));
    }
    let workspace = WORKSPACE.trim_start_matches('/');
    let mut parts: Vec<&str> = Vec::new();
    if !requested.starts_with('/') {
        parts.push(workspace);
    }
    for segment in requested.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    if parts.first() != Some(&workspace) {
        return Err(ToolError::Failed(format!(
            "`{requested}` is outside the workspace. Only paths relative to {WORKSPACE}, or under {WORKSPACE}/, can be used."
        )));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// `base/rest`, or either alone when the other is empty.
pub fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => base.to_owned(),
        _ => format!("{base}/{rest}"),
    }
}

/// `C:\x`, `c:/x` or `C:`: a drive letter, which on this POSIX guest would silently
/// become a file name.
fn is_windows_drive_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes.get(2), None | Some(b'/' | b'\\'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> String {
        resolve(path).unwrap_or_else(|e| panic!("{path}: {e:?}"))
    }

    fn refused(path: &str) -> String {
        match resolve(path) {
            Err(ToolError::Failed(message)) => message,
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn resolves_relative_paths_against_the_workspace() {
        assert_eq!(ok("notes.md"), "/workspace/notes.md");
        assert_eq!(ok("src/lib.rs"), "/workspace/src/lib.rs");
        assert_eq!(ok("./src//lib.rs/"), "/workspace/src/lib.rs");
        assert_eq!(ok("a/../b"), "/workspace/b");
    }

    #[test]
    fn resolves_the_workspace_itself() {
        for path in ["", ".", "./", "/workspace", "/workspace/", "/workspace/."] {
            assert_eq!(ok(path), "/workspace", "{path:?}");
        }
    }

    #[test]
    fn accepts_absolute_paths_under_the_workspace() {
        assert_eq!(ok("/workspace/a/b.txt"), "/workspace/a/b.txt");
        assert_eq!(ok("/workspace/a/../b.txt"), "/workspace/b.txt");
        assert_eq!(ok("//workspace///a"), "/workspace/a");
    }

    #[test]
    fn accepts_paths_that_fold_back_into_the_workspace() {
        assert_eq!(ok("/tmp/../workspace/a"), "/workspace/a");
        assert_eq!(ok("../workspace/a"), "/workspace/a");
    }

    #[test]
    fn refuses_dot_dot_escapes() {
        assert!(refused("..").contains("outside the workspace"));
        assert!(refused("../etc/passwd").contains("outside the workspace"));
        assert!(refused("a/../../x").contains("outside the workspace"));
        assert!(refused("/workspace/../etc").contains("outside the workspace"));
    }

    #[test]
    fn refuses_other_absolute_paths() {
        assert!(refused("/").contains("outside the workspace"));
        assert!(refused("/etc/passwd").contains("outside the workspace"));
        assert!(refused("/workspace2/x").contains("outside the workspace"));
        assert!(refused("/workspacex").contains("outside the workspace"));
    }

    #[test]
    fn refuses_windows_and_home_paths() {
        assert!(refused("C:\\Users\\me").contains("Windows path"));
        assert!(refused("c:/x").contains("Windows path"));
        assert!(refused("~/notes").contains("home directory"));
        assert_eq!(ok("c:x"), "/workspace/c:x");
        assert_eq!(ok("~notes"), "/workspace/~notes");
    }

    #[test]
    fn refuses_nul_characters() {
        assert!(refused("a\0b").contains("NUL"));
    }

    #[test]
    fn joins_paths_with_one_slash() {
        assert_eq!(join("/workspace", "a/b"), "/workspace/a/b");
        assert_eq!(join("/workspace", ""), "/workspace");
        assert_eq!(join("", "a"), "a");
    }
}
