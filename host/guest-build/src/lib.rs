//! Build one of Pincer's guest workspaces (the reference plugins in `plugins/`, the test
//! fixtures in `tests/fixtures/`) for `wasm32-wasip2`.
//!
//! Used by `pincer demo` and by the tests' build script, so that both README commands
//! work on a fresh machine: if the toolchain lacks the `wasm32-wasip2` target (a
//! toolchain installed before `rust-toolchain.toml` listed it), it is added with rustup
//! first. All guest workspaces share one target directory, so their common
//! dependencies (wit-bindgen, serde) compile once.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    let sysroot = Command::new(tool("RUSTC", "rustc"))
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| BuildError(format!("cannot run rustc: {e}")))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", TARGET]);
    if let Some(toolchain) = std::env::var_os("RUSTUP_TOOLCHAIN") {
        add.arg("--toolchain").arg(toolchain);
    }
    let status = add.stdout(Stdio::inherit()).status().map_err(|e| {
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
        .arg(target_dir)
        // Settings meant for the host build must not leak into the guest build.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG");
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
