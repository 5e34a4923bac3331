//! The repository's own rules, checked on its files: every fixture is built and used by
//! a test, and the host's modules import each other only in the allowed directions.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use pincer_test_support::repo_dir;

/// Every `.rs` file under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The fixtures: the directories of `tests/fixtures` that hold a crate.
fn fixture_dirs() -> BTreeSet<String> {
    let dir = repo_dir().join("tests/fixtures");
    std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_fixture_is_a_workspace_member_and_used_by_a_test() {
    let fixtures = fixture_dirs();
    assert!(fixtures.len() > 10, "found only {fixtures:?}");

    let workspace: toml::Table = std::fs::read_to_string(repo_dir().join("tests/fixtures/Cargo.toml"))
        .expect("tests/fixtures/Cargo.toml")
        .parse()
        .expect("valid TOML");
    let members: BTreeSet<String> = workspace["workspace"]["members"]
        .as_array()
        .expect("workspace.members")
        .iter()
        .map(|m| m.as_str().expect("a member name").to_owned())
        .collect();
    assert_eq!(
        fixtures, members,
        "a fixture that is not a member of tests/fixtures/Cargo.toml is never built; \
         a member without a directory breaks the build"
    );

    let this = Path::new(file!()).file_name().unwrap().to_owned();
    let sources: Vec<String> = rust_files(&repo_dir().join("tests/all"))
        .into_iter()
        .filter(|p| p.file_name() != Some(&this))
        .map(|p| std::fs::read_to_string(p).expect("a test source"))
        .collect();
    let unused: Vec<&String> = fixtures
        .iter()
        .filter(|name| {
            let call = regex::Regex::new(&format!(r#"fixture\(\s*"{}"\s*\)"#, regex::escape(name)))
                .unwrap();
            !sources.iter().any(|s| call.is_match(s))
        })
        .collect();
    assert!(
        unused.is_empty(),
        "fixtures in tests/fixtures that no test in tests/all calls `fixture(\"…\")` on: \
         {unused:?}; use them in a test or remove them"
    );
}
