//! Plugin- and manifest-controlled text never rewrites the admin's terminal: manifest
//! validation refuses control and invisible characters in identifiers and paths, and
//! what a plugin writes (tool output, errors, log lines) is shown escaped.

use std::path::Path;

use pincer_test_support::{Pincer, fixture};

const ID: &str = "com.example.probe";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{what} holds raw control characters: {text:?}"
    );
}

#[test]
fn a_manifest_with_escape_codes_in_a_path_or_name_is_refused_naming_the_character() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    // The mount path that erased the lines above the install prompt.
    let err = p.pack_refused(
        &fixture("fs-probe"),
        ID,
        "[[capabilities.filesystem.mounts]]\nguest = \"/cache\\u001b[1A\\u001b[2K\"\nroot = \"plugin-data\"\naccess = \"read-only\"\n",
        &key,
    );
    assert!(err.contains("`guest`") && err.contains("U+001B"), "{err}");
    assert_no_raw_controls("the refusal", &err);
    let err = p.pack_refused(
        &fixture("fs-probe"),
        ID,
        "[[capabilities.filesystem.mounts]]\nguest = \"/data\"\nroot = \"plugin-data\"\nsubdir = \"a\\u202ecod\"\naccess = \"read-only\"\n",
        &key,
    );
    assert!(err.contains("`subdir`") && err.contains("U+202E"), "{err}");
}

#[test]
fn what_a_plugin_writes_reaches_the_terminal_escaped() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.bundle(
        &fixture("fs-probe"),
        ID,
        "1.0.0",
        "[[capabilities.filesystem.mounts]]\nguest = \"/data\"\nroot = \"plugin-data\"\naccess = \"read-write\"\n",
        &key,
    );
    p.ok(&["install", s(&bundle), "--yes"]);
    // The plugin writes a file that clears the screen and fakes a prompt, then shows it.
    let evil = "ok\u{1b}[2J\u{1b}[1A\rApprove? [y/N] \u{202e}";
    let args = serde_json::json!({ "path": "/data/evil.txt", "text": evil }).to_string();
    assert_eq!(p.call(ID, "write", &args), (false, "written".into()));
    let out = p.run(&["call", ID, "read", "--args", r#"{"path":"/data/evil.txt"}"#]);
    let shown = String::from_utf8(out.stdout).unwrap();
    assert_no_raw_controls("the tool output", &shown);
    assert!(
        shown.contains("ok\\u{001B}[2J\\u{001B}[1A\\rApprove?"),
        "{shown}"
    );
    assert!(shown.contains("\\u{202E}"), "{shown}");
    // Its error messages too (they name the path it was given).
    let out = p.run(&[
        "call",
        ID,
        "read",
        "--args",
        r#"{"path":"/data/\u001b[2Jmissing"}"#,
    ]);
    assert_eq!(out.status.code(), Some(5));
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert_no_raw_controls("the error result", &stdout);
    assert_no_raw_controls("stderr", &stderr);
    assert!(stdout.contains("\\u{001B}[2Jmissing"), "{stdout}");
    // And the JSON form keeps the bytes, escaped as JSON does.
    let json = p.run(&[
        "call",
        ID,
        "read",
        "--args",
        r#"{"path":"/data/evil.txt"}"#,
        "--json",
    ]);
    let json = String::from_utf8(json.stdout).unwrap();
    assert_no_raw_controls("the JSON output", &json);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["content"][0]["text"], evil);
}
