use std::path::Path;

use super::*;

const GOOD: &str = r#"manifest_version = 1

[plugin]
id = "com.example.notes"
name = "Notes"
version = "1.2.0"
kind = "mcp-server"
description = "Searches your notes."
publisher = "Example Corp"

[component]
file = "notes.wasm"

[[capabilities.filesystem.mounts]]
guest = "/notes"
root = "workspace"
subdir = "notes"
access = "read-only"

[[capabilities.filesystem.mounts]]
guest = "/data"
root = "plugin-data"
access = "read-write"

[capabilities.http]
origins = ["https://api.example.com", "https://*.example.org"]
methods = ["GET", "POST"]

[capabilities.secrets]
names = ["api-key"]

[limits]
memory_mib = 32
timeout_ms = 2000
concurrency = 2
"#;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, Path::new("manifest.toml"))
}

/// Replace `from` in the good manifest with `to`, parse, and return the error.
fn error_after(from: &str, to: &str) -> ManifestError {
    assert!(GOOD.contains(from), "the fixture has no `{from}`");
    parse(&GOOD.replacen(from, to, 1)).expect_err("the change should be refused")
}

#[test]
fn parses_a_complete_manifest() {
    let m = parse(GOOD).unwrap();
    assert_eq!(m.plugin.id.as_str(), "com.example.notes");
    assert_eq!(m.plugin.id.last_segment(), "notes");
    assert_eq!(m.plugin.kind, PluginKind::McpServer);
    assert_eq!(m.plugin.version, semver::Version::new(1, 2, 0));
    let mounts = &m.capabilities.filesystem.as_ref().unwrap().mounts;
    assert_eq!(mounts.len(), 2);
    assert_eq!(m.limits.memory_mib, Some(32));
    assert_eq!(
        m.capabilities.secrets.unwrap().names[0].get_ref(),
        "api-key"
    );
}

#[test]
fn rejects_unknown_manifest_field_with_line_and_column() {
    let e = error_after(
        "publisher = \"Example Corp\"",
        "publisher = \"Example Corp\"\nhomepage = \"x\"",
    );
    assert_eq!((e.line, e.column), (10, 1), "{e}");
    assert!(e.message.contains("unknown field `homepage`"), "{e}");
    assert!(e.to_string().starts_with("manifest.toml:10:1: "), "{e}");
}

#[test]
fn rejects_unknown_capability_with_line_and_column() {
    let e = error_after("[capabilities.secrets]", "[capabilities.sockets]");
    assert_eq!((e.line, e.column), (29, 15), "{e}");
    assert!(e.message.contains("unknown field `sockets`"), "{e}");
}

#[test]
fn rejects_bad_plugin_ids_with_line_and_column() {
    for bad in [
        "Notes",
        "notes",
        "com..notes",
        "com.Example.notes",
        "com.-x.notes",
        "com.ex ample",
    ] {
        let e = error_after("id = \"com.example.notes\"", &format!("id = \"{bad}\""));
        assert_eq!((e.line, e.column), (4, 6), "{bad}: {e}");
        assert!(e.message.contains("invalid plugin id"), "{e}");
    }
}

#[test]
fn rejects_absolute_host_paths_as_roots() {
    let e = error_after("root = \"workspace\"", "root = \"/home/me/notes\"");
    assert_eq!((e.line, e.column), (16, 8), "{e}");
    assert!(e.message.contains("is a host path"), "{e}");
    assert!(e.message.contains("pincer root bind"), "{e}");
}

#[test]
fn rejects_parent_segments_in_mount_paths() {
    let e = error_after("subdir = \"notes\"", "subdir = \"../../etc\"");
    assert_eq!((e.line, e.column), (17, 10), "{e}");
    assert!(e.message.contains("`..`"), "{e}");

    let e = error_after("guest = \"/notes\"", "guest = \"/notes/../..\"");
    assert_eq!((e.line, e.column), (15, 9), "{e}");
    assert!(e.message.contains("`..`"), "{e}");
}

#[test]
fn rejects_absolute_subdirs_and_relative_guest_paths() {
    let e = error_after("subdir = \"notes\"", "subdir = \"/etc\"");
    assert_eq!(e.line, 17, "{e}");
    let e = error_after("guest = \"/notes\"", "guest = \"notes\"");
    assert_eq!(e.line, 15, "{e}");
    assert!(e.message.contains("must be absolute"), "{e}");
}

#[test]
fn rejects_duplicate_mounts_at_the_second_one() {
    let e = error_after("guest = \"/data\"", "guest = \"/notes/\"");
    assert_eq!(e.line, 21, "{e}");
    assert!(e.message.contains("mounted twice"), "{e}");
}

#[test]
fn rejects_a_component_path_that_leaves_the_plugin_directory() {
    for bad in ["../x.wasm", "/abs/x.wasm", "a/../x.wasm"] {
        let e = error_after("file = \"notes.wasm\"", &format!("file = \"{bad}\""));
        assert_eq!((e.line, e.column), (12, 8), "{bad}: {e}");
    }
}

#[test]
fn rejects_bad_versions_kinds_and_digests() {
    let e = error_after("version = \"1.2.0\"", "version = \"1.2\"");
    assert_eq!((e.line, e.column), (6, 11), "{e}");
    let e = error_after("kind = \"mcp-server\"", "kind = \"daemon\"");
    assert_eq!(e.line, 7, "{e}");
    assert!(e.message.contains("mcp-server"), "{e}");
    let e = error_after(
        "file = \"notes.wasm\"",
        "file = \"notes.wasm\"\nsha256 = \"abc\"",
    );
    assert_eq!(e.line, 13, "{e}");
}

#[test]
fn rejects_malformed_origins_and_methods() {
    let e = error_after("\"https://*.example.org\"", "\"https://example.org/path\"");
    assert_eq!(e.line, 26, "{e}");
    assert!(e.message.contains("no path"), "{e}");
    let e = error_after(
        "methods = [\"GET\", \"POST\"]",
        "methods = [\"GET\", \"FETCH\"]",
    );
    assert_eq!((e.line, e.column), (27, 19), "{e}");
}

#[test]
fn rejects_zero_limits_and_unknown_limit_fields() {
    let e = error_after("concurrency = 2", "concurrency = 0");
    assert!(e.message.contains("at least 1"), "{e}");
    let e = error_after("concurrency = 2", "threads = 2");
    assert_eq!((e.line, e.column), (35, 1), "{e}");
}

#[test]
fn rejects_other_manifest_versions() {
    let e = error_after("manifest_version = 1", "manifest_version = 2");
    assert_eq!((e.line, e.column), (1, 20), "{e}");
}

#[test]
fn reports_toml_syntax_errors_with_line_and_column() {
    let e = error_after("name = \"Notes\"", "name = \"Notes");
    assert_eq!(e.line, 5, "{e}");
}

#[test]
fn counts_columns_in_characters() {
    assert_eq!(line_column("ab\ncé d", 7), (2, 4));
}

/// Every complete manifest in docs/manifest.md parses, so the reference stays true.
#[test]
fn parses_every_example_in_the_manifest_reference() {
    let doc = include_str!("../../../docs/manifest.md");
    let examples: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.starts_with("manifest_version"))
        .collect();
    assert_eq!(examples.len(), 4, "one example per plugin kind");
    let mut kinds = Vec::new();
    for example in examples {
        let m = parse(example).unwrap_or_else(|e| panic!("{e}\n{example}"));
        kinds.push(m.plugin.kind);
    }
    assert_eq!(
        kinds,
        [
            PluginKind::McpServer,
            PluginKind::Chat,
            PluginKind::Recorder,
            PluginKind::Viewer
        ]
    );
}
