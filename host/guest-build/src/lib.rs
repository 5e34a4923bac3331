//! Build one of Pincer's guest workspaces (the reference plugins in `plugins/`, the test
//! fixtures in `tests/fixtures/`) for `wasm32-wasip2`.
//!
//! Used by `pincer demo` and by the tests' build script, so that both README commands
//! work on a fresh machine, and by `pincer dev` for an author's project
//! ([`build_project`]): if the toolchain lacks the `wasm32-wasip2` target (a
//! toolchain installed before `rust-toolchain.toml` listed it), it is added with rustup
//! first. All guest workspaces share one target directory, so their common
//! dependencies (wit-bindgen, serde) compile once.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The target guests are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// How a build went wrong, with what to do about it.
#[derive(Debug)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

fn tool(var: &str, default: &str) -> OsString {
    std::env::var_os(var).unwrap_or_else(|| default.into())
}

/// Make sure the active toolchain has the `wasm32-wasip2` standard library, adding it
/// with rustup when it is missing.
pub fn ensure_target() -> Result<(), BuildError> {
    ensure_target_in(None)
}

/// [`ensure_target`] for the toolchain that applies in `dir` (a project may pin its
/// own with `rust-toolchain.toml`), or in the current directory. rustup's progress
/// goes to stderr, so that stdout carries only what the caller prints.
fn ensure_target_in(dir: Option<&Path>) -> Result<(), BuildError> {
    let in_dir = |command: &mut Command| {
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
    };
    let mut rustc = Command::new(tool("RUSTC", "rustc"));
    rustc.args(["--print", "sysroot"]);
    in_dir(&mut rustc);
    let sysroot = rustc.output().map_err(|e| {
        BuildError(format!(
            "cannot run rustc: {e}; install Rust from https://rustup.rs"
        ))
    })?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    in_dir(&mut add);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        add.arg("--toolchain").arg(toolchain);
    }
    let status = add
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| {
            BuildError(format!(
                "the {TARGET} target is missing and rustup could not be run to add it ({e}); install it with `rustup target add {TARGET}`"
            ))
        })?;
    if !status.success() {
        return Err(BuildError(format!(
            "`rustup target add {TARGET}` failed; run it by hand and try again"
        )));
    }
    Ok(())
}

/// Of the environment variables `names`, those that configure the build this runs in
/// and must not reach the guests' own: the target directory and target, flags, every
/// profile override (`CARGO_PROFILE_*`: the guests' profile is their workspace's), and
/// the wrapper `cargo clippy` sets for its workspace (`RUSTC_WORKSPACE_WRAPPER`,
/// `CLIPPY_ARGS`), which would otherwise lint the guests with the host's `-D warnings`.
fn host_only_vars(names: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const EXACT: [&str; 6] = [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
    ];
    names
        .filter(|name| {
            name.to_str()
                .is_some_and(|n| EXACT.contains(&n) || n.starts_with("CARGO_PROFILE_"))
        })
        .collect()
}

/// Build the workspace whose manifest is `manifest` in release mode for
/// `wasm32-wasip2` into `target_dir`, and return the directory holding the `.wasm`
/// files. Cargo's output goes to `stderr` of this process unless `quiet`.
pub fn build(manifest: &Path, target_dir: &Path, quiet: bool) -> Result<PathBuf, BuildError> {
    ensure_target()?;
    let mut cargo = Command::new(tool("CARGO", "cargo"));
    cargo
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir);
    // Settings meant for the host build must not leak into the guest build.
    for name in host_only_vars(std::env::vars_os().map(|(name, _)| name)) {
        cargo.env_remove(name);
    }
    if quiet {
        cargo.arg("--quiet");
    }
    let output = cargo
        .stdout(Stdio::inherit())
        .stderr(if quiet {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .output()
        .map_err(|e| BuildError(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(BuildError(format!(
            "building {} for {TARGET} failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(target_dir.join(TARGET).join("release"))
}

/// Why building a plugin project failed.
#[derive(Debug)]
pub enum ProjectError {
    /// The `wasm32-wasip2` target is missing and could not be added.
    Target(BuildError),
    /// Cargo could not be started.
    Spawn {
        /// The cargo that was run.
        cargo: PathBuf,
        /// Why it did not start.
        error: std::io::Error,
    },
    /// Cargo's output could not be read, or cargo not waited for.
    Io(String),
    /// The build failed; cargo showed why on stderr.
    Failed(ExitStatus),
}

impl std::fmt::Display for ProjectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectError::Target(e) => write!(f, "{e}"),
            ProjectError::Spawn { cargo, error } => write!(
                f,
                "cannot run {}: {error}; install Rust from https://rustup.rs",
                cargo.display()
            ),
            ProjectError::Io(why) => f.write_str(why),
            ProjectError::Failed(status) => write!(
                f,
                "the build failed ({status}): fix the errors above, then run `pincer dev` again"
            ),
        }
    }
}

impl std::error::Error for ProjectError {}

/// A component a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The `Cargo.toml` of its package.
    pub package: PathBuf,
    /// The `.wasm` file.
    pub wasm: PathBuf,
}

/// `cargo build --release --target wasm32-wasip2` in the plugin project `dir` (adding
/// the target first if it is missing), cargo's diagnostics on stderr as usual; the
/// components it built.
pub fn build_project(dir: &Path) -> Result<Vec<Built>, ProjectError> {
    ensure_target_in(Some(dir)).map_err(ProjectError::Target)?;
    // Under cargo (`cargo run`, tests), the same cargo; else the one on PATH.
    let cargo = tool("CARGO", "cargo");
    let mut child = Command::new(&cargo)
        .args(["build", "--release", "--target", TARGET])
        // Diagnostics rendered on stderr as usual; stdout carries what was built.
        .arg("--message-format=json-render-diagnostics")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| ProjectError::Spawn {
            cargo: cargo.clone().into(),
            error,
        })?;
    let mut built = Vec::new();
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| ProjectError::Io(format!("reading cargo's output: {e}")))?;
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(message) => built.extend(built_component(&message)),
            // Not one of cargo's messages (a build script's print): show it.
            Err(_) => eprintln!("{line}"),
        }
    }
    let status = child
        .wait()
        .map_err(|e| ProjectError::Io(format!("waiting for cargo: {e}")))?;
    if !status.success() {
        return Err(ProjectError::Failed(status));
    }
    Ok(built)
}

/// The component `message` reports, if it is cargo's report of a built `cdylib`.
fn built_component(message: &serde_json::Value) -> Option<Built> {
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = message["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "cdylib") {
        return None;
    }
    let wasm = message["filenames"]
        .as_array()?
        .iter()
        .filter_map(|f| f.as_str())
        .find(|f| f.ends_with(".wasm"))?;
    let package = message["manifest_path"].as_str()?;
    Some(Built {
        package: package.into(),
        wasm: wasm.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_component_in_cargos_artifact_message() {
        let message = serde_json::json!({
            "reason": "compiler-artifact",
            "manifest_path": "/p/Cargo.toml",
            "target": { "kind": ["cdylib"], "name": "greeter" },
            "filenames": ["/t/wasm32-wasip2/release/greeter.wasm"],
            "fresh": true,
        });
        assert_eq!(
            built_component(&message),
            Some(Built {
                package: "/p/Cargo.toml".into(),
                wasm: "/t/wasm32-wasip2/release/greeter.wasm".into()
            })
        );
        let library = serde_json::json!({
            "reason": "compiler-artifact",
            "manifest_path": "/s/Cargo.toml",
            "target": { "kind": ["lib"] },
            "filenames": ["/t/libserde.rlib"],
        });
        assert_eq!(built_component(&library), None);
        assert_eq!(
            built_component(&serde_json::json!({ "reason": "build-finished" })),
            None
        );
    }

    #[test]
    fn the_host_builds_settings_do_not_reach_the_guests() {
        let names = [
            "CARGO_PROFILE_RELEASE_LTO",
            "CARGO_PROFILE_RELEASE_CODEGEN_UNITS",
            "RUSTC_WORKSPACE_WRAPPER",
            "CLIPPY_ARGS",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "PATH",
            "CARGO_HOME",
            "RUSTUP_TOOLCHAIN",
        ];
        let removed = host_only_vars(names.iter().map(std::ffi::OsString::from));
        assert_eq!(removed, &names[..6]);
    }
}
