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

    let workspace: toml::Table =
        std::fs::read_to_string(repo_dir().join("tests/fixtures/Cargo.toml"))
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

/// The module a path of the form `crate::NAME` names (also `pincer::NAME`, as an
/// integration test would), for each such path in the code of `source` (comments are
/// skipped: a doc link is not an import).
fn named_modules(source: &str) -> BTreeSet<String> {
    let path = regex::Regex::new(r"\b(?:crate|pincer)::([a-z_]+)").unwrap();
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| {
            path.captures_iter(line)
                .map(|c| c[1].to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The host's files under `host/src/DIR` (or the whole `host/src`), with the source.
fn host_sources(dir: &str) -> Vec<(String, String)> {
    let root = repo_dir().join("host/src");
    rust_files(&root.join(dir))
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("a host source");
            (p.strip_prefix(&root).unwrap().display().to_string(), text)
        })
        .collect()
}

#[test]
fn capabilities_import_neither_the_runtime_nor_the_kinds_nor_the_front_ends() {
    // A capability knows its grant, its state and its host functions; the runtime
    // composes capabilities, never the other way round.
    let forbidden = ["runtime", "kinds", "cli", "mcp", "gateway", "install"];
    let mut found = Vec::new();
    for (file, text) in host_sources("caps") {
        for module in named_modules(&text) {
            if forbidden.contains(&module.as_str()) {
                found.push(format!("{file} uses crate::{module}"));
            }
        }
        if text.contains("super::super::") {
            found.push(format!("{file} reaches out through super::super"));
        }
    }
    assert!(found.is_empty(), "caps/ must stand alone: {found:#?}");
}

#[test]
fn no_library_module_imports_the_command_line() {
    // The command line is a front end over the library: clap types, argument
    // reading, output and the demo. The gateway and the MCP server reach the same
    // operations through the library.
    let mut found = Vec::new();
    for (file, text) in host_sources("") {
        if file.starts_with("cli/") || file == "main.rs" {
            continue;
        }
        if named_modules(&text).contains("cli") {
            found.push(file);
        }
    }
    assert!(
        found.is_empty(),
        "library modules that use crate::cli: {found:?}"
    );
}

#[test]
fn the_import_check_sees_imports_and_skips_comments() {
    let source =
        "use crate::runtime::Fault;\n//! see [`crate::kinds`]\nlet x = pincer::cli::main;\n";
    assert_eq!(
        named_modules(source),
        ["cli", "runtime"].map(String::from).into()
    );
}

#[test]
fn the_files_that_adding_a_capability_touches_exist_for_the_model_capability() {
    // docs/contributing.md lists them for a capability NAME, taking `kv` as the model:
    // with NAME = kv each must exist, so the list stays true as files move.
    let doc = std::fs::read_to_string(repo_dir().join("docs/contributing.md")).unwrap();
    let section = doc
        .split("## Adding a capability")
        .nth(1)
        .expect("docs/contributing.md has a section `Adding a capability`");
    let path = regex::Regex::new(r"`((?:host|plugins|tests|docs|wit)/[A-Za-z0-9_./-]+)`").unwrap();
    let mut checked = 0;
    let mut missing = Vec::new();
    for c in path.captures_iter(section) {
        let named = &c[1];
        if named.contains("0.2.0") {
            continue; // the next WIT version, made by the change itself
        }
        let concrete = named.replace("NAME", "kv");
        checked += 1;
        if !repo_dir().join(concrete.trim_end_matches('/')).exists() {
            missing.push(concrete);
        }
    }
    assert!(checked >= 12, "only {checked} paths found in the section");
    assert!(
        missing.is_empty(),
        "docs/contributing.md names files that do not exist: {missing:?}"
    );
}
