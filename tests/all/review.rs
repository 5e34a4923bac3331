//! `pincer review --json` for the reference fixtures, as snapshots (insta). Values that
//! differ between runs (key ids, component digests, paths) are replaced by markers; the
//! rest, risk levels and messages included, must not change without a reviewed
//! snapshot update (`cargo insta review`, or INSTA_UPDATE=always).

use std::path::Path;

use pincer_test_support::{Pincer, fixture};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run `pincer review --json` and replace what varies from run to run.
fn review(p: &Pincer, bundle: &Path, expect_code: i32) -> serde_json::Value {
    let out = p.run(&["review", s(bundle), "--json"]);
    assert_eq!(out.status.code(), Some(expect_code), "{out:?}");
    let mut text = String::from_utf8(out.stdout).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut replace = vec![
        (s(bundle).to_owned(), "[BUNDLE]".to_owned()),
        (s(p.work.path()).to_owned(), "[WORK]".to_owned()),
    ];
    for digest in [&value["digest"]["found"], &value["digest"]["expected"]] {
        if let Some(d) = digest.as_str() {
            replace.push((d.to_owned(), "[SHA256]".to_owned()));
        }
    }
    let keys: serde_json::Value =
        serde_json::from_str(&p.ok(&["trust", "list", "--json"])).unwrap();
    let mut key_ids: Vec<String> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap().to_owned())
        .collect();
    if let Some(k) = value["signature"]["key_id"].as_str() {
        key_ids.push(k.to_owned());
    }
    for k in key_ids {
        replace.push((k, "[KEY_ID]".to_owned()));
    }
    for (from, to) in replace {
        text = text.replace(&from, &to);
    }
    serde_json::from_str(&text).unwrap()
}

const ID: &str = "com.example.fixture";

#[test]
fn review_of_a_plugin_with_no_grants() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&fixture("well-behaved"), ID, "1.0.0", "", &key);
    insta::assert_json_snapshot!("well_behaved", review(&p, &bundle, 0));
}

#[test]
fn review_of_a_plugin_with_mounts() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Example");
    let mounts = r#"
[[capabilities.filesystem.mounts]]
guest = "/data"
root = "plugin-data"
access = "read-write"

[[capabilities.filesystem.mounts]]
guest = "/workspace"
root = "workspace"
access = "read-write"

[capabilities.kv]
quota_bytes = 65536
"#;
    let bundle = p.bundle(&fixture("fs-probe"), ID, "1.0.0", mounts, &key);
    insta::assert_json_snapshot!("fs_probe", review(&p, &bundle, 0));
}

#[test]
fn review_of_a_plugin_whose_imports_exceed_its_grants() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&fixture("sockets"), ID, "1.0.0", "", &key);
    insta::assert_json_snapshot!("sockets", review(&p, &bundle, 3));
}

#[test]
fn review_of_a_plugin_asking_for_http_and_secrets() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Example");
    let http = r#"
[capabilities.http]
origins = ["https://api.example.com", "https://*.example.org"]
methods = ["GET", "POST"]

[capabilities.secrets]
names = ["api-token"]
"#;
    let bundle = p.bundle(&fixture("http-client"), ID, "1.0.0", http, &key);
    insta::assert_json_snapshot!("http_client", review(&p, &bundle, 0));
}

#[test]
fn review_of_a_bundle_signed_by_an_unknown_key() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let _trusted = p.trusted_key("Example");
    let (stranger, _) = p.keygen("stranger");
    let bundle = p.bundle(&fixture("well-behaved"), ID, "1.0.0", "", &stranger);
    insta::assert_json_snapshot!("unknown_key", review(&p, &bundle, 3));
}

#[test]
fn review_of_an_update_that_asks_for_more() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Example");
    let v1 = p.bundle(
        &fixture("well-behaved"),
        ID,
        "1.0.0",
        "[limits]\ntimeout_ms = 30000\n",
        &key,
    );
    p.ok(&["install", s(&v1), "--yes"]);
    // A shorter time limit, but long enough for the review to list the tools in it on
    // a loaded machine.
    let more = r#"
[[capabilities.filesystem.mounts]]
guest = "/recordings"
root = "recordings"
access = "read-only"

[limits]
timeout_ms = 20000
concurrency = 32
"#;
    let v2 = p.bundle(&fixture("well-behaved"), ID, "1.1.0", more, &key);
    insta::assert_json_snapshot!("update_wider", review(&p, &v2, 0));
    // The human form fits 80 columns.
    let out = p.run(&["review", s(&v2)]);
    let text = String::from_utf8(out.stdout).unwrap();
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line}");
    }
    assert!(text.contains("+ WIDER filesystem"), "{text}");
    // An mcp-server's review lists its tools and reviews them for poisoning.
    assert!(
        text.contains("  echo   Returns its text argument unchanged."),
        "{text}"
    );
    assert!(text.contains("Poisoning review: nothing found"), "{text}");
}
