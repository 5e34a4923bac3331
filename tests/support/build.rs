//! Builds every guest once per test run: the fixtures in `tests/fixtures/` and the
//! reference plugins in `plugins/`, for wasm32-wasip2, into `target/guests`. Cargo
//! reruns this only when a guest's source, the WIT or the SDK changes.

use std::path::Path;

fn main() {
    let support = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = support
        .join("../..")
        .canonicalize()
        .expect("the repository root");
    let target_dir = repo.join("target/guests");
    for dir in ["wit", "plugins", "tests/fixtures"] {
        watch(&repo.join(dir));
    }
    for workspace in ["tests/fixtures/Cargo.toml", "plugins/Cargo.toml"] {
        let out = pincer_guest_build::build(&repo.join(workspace), &target_dir, true)
            .unwrap_or_else(|e| panic!("{e}"));
        println!("cargo:rustc-env=PINCER_GUESTS_DIR={}", out.display());
    }
    println!("cargo:rustc-env=PINCER_REPO_DIR={}", repo.display());
}

/// Ask cargo to rerun this script when anything under `dir` changes (but not build
/// output).
fn watch(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
