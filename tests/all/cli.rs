//! The `pincer` binary as a user runs it: output, errors with their fix, exit codes.

use std::path::Path;
use std::process::{Command, Output};

use pincer_test_support::{ScratchPlugin, fixture, plugin};

fn pincer(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pincer"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PINCER_LOG")
        .output()
        .expect("running pincer")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hello() -> ScratchPlugin {
    ScratchPlugin::new(&plugin("hello"), "dev.pincer.hello", "")
}

#[test]
fn help_lists_every_subcommand() {
    let home = tempfile::tempdir().unwrap();
    let out = pincer(home.path(), &["--help"]);
    assert!(out.status.success());
    for sub in [
        "inspect", "call", "tools", "root", "demo", "keygen", "pack", "sign", "verify", "trust",
        "review", "install", "approve", "list", "info", "remove", "audit",
    ] {
        assert!(
            stdout(&out).contains(sub),
            "--help lacks {sub}:\n{}",
            stdout(&out)
        );
    }
    let out = pincer(home.path(), &["call", "--help"]);
    assert!(stdout(&out).contains("--manifest") && stdout(&out).contains("--args"));
}

#[test]
fn calls_a_tool_and_prints_its_text() {
    let home = tempfile::tempdir().unwrap();
    let scratch = hello();
    let manifest = scratch.manifest();
    let out = pincer(
        home.path(),
        &[
            "call",
            "--dev",
            "--manifest",
            manifest.to_str().unwrap(),
            "greet",
            "--args",
            r#"{"name":"Ada"}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "Hello, Ada! Greetings from a Wasm sandbox."
    );
    assert!(
        stderr(&out).contains("development mode"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prints_json_results_for_machines() {
    let home = tempfile::tempdir().unwrap();
    let scratch = hello();
    let manifest = scratch.manifest();
    let out = pincer(
        home.path(),
        &[
            "call",
            "--json",
            "--dev",
            "--manifest",
            manifest.to_str().unwrap(),
            "word_count",
            "--args",
            r#"{"text":"a b c"}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["structured_content"]["words"], 3);
    assert_eq!(v["is_error"], false);
    let out = pincer(
        home.path(),
        &[
            "tools",
            "--json",
            "--dev",
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v[0]["name"], "greet");
    assert_eq!(v[0]["input_schema"]["required"][0], "name");
}

#[test]
fn exit_codes_tell_bad_input_refusal_fault_and_tool_error_apart() {
    let home = tempfile::tempdir().unwrap();
    let scratch = hello();
    let m = scratch.manifest();
    let m = m.to_str().unwrap();

    let out = pincer(
        home.path(),
        &["call", "--dev", "--manifest", m, "greet", "--args", "[1]"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--args must be a JSON object"),
        "{}",
        stderr(&out)
    );

    let out = pincer(home.path(), &["call", "--dev", "--manifest", m, "nope"]);
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("has no tool `nope`"),
        "{}",
        stderr(&out)
    );

    let out = pincer(
        home.path(),
        &["call", "--dev", "--manifest", m, "greet", "--args", "{}"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("missing field `name`"),
        "{}",
        stderr(&out)
    );

    let spin = ScratchPlugin::new(
        &fixture("infinite-loop"),
        "test.spin",
        "[limits]\ntimeout_ms = 200",
    );
    let out = pincer(
        home.path(),
        &[
            "call",
            "--dev",
            "--manifest",
            spin.manifest().to_str().unwrap(),
            "spin",
        ],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("plugin `test.spin` timed out after 200 ms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn points_at_the_manifest_line_and_column_of_a_mistake() {
    let home = tempfile::tempdir().unwrap();
    let scratch = ScratchPlugin::new(&plugin("hello"), "dev.pincer.hello", "[limits]\nmemory = 5");
    let out = pincer(
        home.path(),
        &[
            "call",
            "--dev",
            "--manifest",
            scratch.manifest().to_str().unwrap(),
            "greet",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("manifest.toml:15:1: unknown field `memory`"),
        "{err}"
    );
}

#[test]
fn refuses_an_unbound_root_until_the_admin_binds_it() {
    let home = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("note.txt"), "bound at last").unwrap();
    let mounts = "[[capabilities.filesystem.mounts]]\nguest = \"/ws\"\nroot = \"workspace\"\naccess = \"read-only\"";
    let scratch = ScratchPlugin::new(&fixture("fs-probe"), "test.fs", mounts);
    let m = scratch.manifest();
    let call = [
        "call",
        "--dev",
        "--manifest",
        m.to_str().unwrap(),
        "read",
        "--args",
        r#"{"path":"/ws/note.txt"}"#,
    ];
    let out = pincer(home.path(), &call);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("pincer root bind workspace"),
        "{}",
        stderr(&out)
    );

    let out = pincer(
        home.path(),
        &[
            "root",
            "bind",
            "workspace",
            workspace.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = pincer(home.path(), &call);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "bound at last");

    let out = pincer(home.path(), &["root", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(v["workspace"].is_string());
}

#[test]
fn inspect_names_each_import_and_the_world() {
    let home = tempfile::tempdir().unwrap();
    let sockets = fixture("sockets");
    let out = pincer(home.path(), &["inspect", sockets.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("world   pincer:plugin/mcp-server@0.1.0"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("wasi:sockets/") && l.contains("NEVER GRANTED")),
        "{text}"
    );
    assert!(
        text.contains("pincer:plugin/tools@0.1.0#call-tool"),
        "{text}"
    );

    let out = pincer(
        home.path(),
        &["inspect", "--json", plugin("hello").to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["world"], "mcp-server");
    let classes: Vec<&str> = v["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["class"].as_str().unwrap())
        .collect();
    assert!(
        classes.iter().all(|c| *c == "base" || *c == "log"),
        "{classes:?}"
    );

    let out = pincer(home.path(), &["inspect", "/nonexistent.wasm"]);
    assert_eq!(out.status.code(), Some(2));
}
