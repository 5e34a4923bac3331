//! Helpers for Pincer's tests and benchmarks: where the built guests are, and a
//! scratch plugin directory with a manifest next to its component.
//!
//! The guests (fixtures and reference plugins) are built by this crate's build script,
//! once per test run.

use std::path::{Path, PathBuf};

/// The directory holding every built guest component (`<name>.wasm`).
pub fn guests_dir() -> PathBuf {
    PathBuf::from(env!("PINCER_GUESTS_DIR"))
}

/// The repository's root.
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("PINCER_REPO_DIR"))
}

/// The built component of the fixture `name` (its directory under `tests/fixtures`).
pub fn fixture(name: &str) -> PathBuf {
    let path = guests_dir().join(format!("fixture_{}.wasm", name.replace('-', "_")));
    assert!(
        path.exists(),
        "fixture {name} was not built: {}",
        path.display()
    );
    path
}

/// The built component of the reference plugin `name` (its crate under `plugins/`).
pub fn plugin(name: &str) -> PathBuf {
    let path = guests_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.exists(),
        "plugin {name} was not built: {}",
        path.display()
    );
    path
}

/// A temporary plugin directory: `component.wasm` (a copy of `component`) and a
/// `manifest.toml` built from `id`, `kind` and the extra TOML `sections`.
pub struct ScratchPlugin {
    /// The directory; removed on drop.
    pub dir: tempfile::TempDir,
}

impl ScratchPlugin {
    /// Write a plugin directory for `component` with a manifest whose `[plugin]` id is
    /// `id` and whose other sections (capabilities, limits) are `sections`.
    pub fn new(component: &Path, id: &str, sections: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::copy(component, dir.path().join("component.wasm")).expect("copying the component");
        let manifest = format!(
            r#"manifest_version = 1

[plugin]
id = "{id}"
name = "Test plugin"
version = "1.0.0"
kind = "mcp-server"
description = "A test fixture."
publisher = "Pincer tests"

[component]
file = "component.wasm"

{sections}
"#
        );
        std::fs::write(dir.path().join("manifest.toml"), manifest).expect("writing the manifest");
        ScratchPlugin { dir }
    }

    /// The manifest's path.
    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("manifest.toml")
    }
}
