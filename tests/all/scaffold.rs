//! `pincer new` from an empty directory, for each kind: new → build → pack (with a
//! fresh key) → trust → install → use (call the tool, chat, record, view). The
//! projects build outside the repository with nothing but crates.io.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pincer_test_support::Pincer;
use serde_json::{Value, json};

/// `cargo build --release --target wasm32-wasip2` in `project`, with a target
/// directory the four projects share (their dependencies build once).
fn build(project: &Path, target: &Path) {
    let out = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the generated project does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(!warnings.contains("warning"), "{warnings}");
}

/// new → build → keygen → pack → trust → install; the plugin's id.
fn made_and_installed(p: &Pincer, dir: &Path, target: &Path, kind: &str, name: &str) -> String {
    let project = dir.join(name);
    let made = p.ok(&[
        "new",
        "--kind",
        kind,
        name,
        "--dir",
        project.to_str().unwrap(),
    ]);
    assert!(
        made.contains(&format!("{kind} plugin com.example.{name}")),
        "{made}"
    );
    assert!(project.join("README.md").exists() && project.join("wit/0.1.0/mcp.wit").exists());
    build(&project, target);
    let wasm = target.join(format!(
        "wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    let key = dir.join(format!("{name}-key"));
    p.ok(&["keygen", "--unencrypted", "--out", key.to_str().unwrap()]);
    let bundle = dir.join(format!("{name}-bundle"));
    p.ok(&[
        "pack",
        project.join("manifest.toml").to_str().unwrap(),
        "--component",
        wasm.to_str().unwrap(),
        "--key",
        key.with_extension("key").to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    p.ok(&[
        "trust",
        "add",
        key.with_extension("pub").to_str().unwrap(),
        "--name",
        name,
    ]);
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    format!("com.example.{name}")
}

#[test]
fn every_kind_goes_from_new_to_use() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let dir = tempfile::tempdir().unwrap();
    let target = pincer_test_support::repo_dir().join("target/scaffold");

    // Refusals first: nothing is written over, and bad names and kinds say why.
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    let refused = p.run(&[
        "new",
        "--kind",
        "chat",
        "taken",
        "--dir",
        taken.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already exists"));
    let refused = p.run(&["new", "--kind", "native", "x"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the kinds are"));
    let refused = p.run(&["new", "--kind", "chat", "../Up"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("cannot name a plugin"));

    let tool = made_and_installed(&p, dir.path(), &target, "mcp-server", "greeter");
    let out = p.ok(&["call", &tool, "greet", "--args", r#"{"name":"Ada"}"#]);
    assert_eq!(out.trim(), "Hello, Ada!");

    let chat = made_and_installed(&p, dir.path(), &target, "chat", "parrot");
    let out = p.ok(&["chat", &chat, "hello there"]);
    assert_eq!(out.trim(), "You said: hello there");

    let recorder = made_and_installed(&p, dir.path(), &target, "recorder", "taper");
    let viewer = made_and_installed(&p, dir.path(), &target, "viewer", "player");
    let (mut child, url, token) = p.start_server(&["serve", "--port", "0"], "run/gateway.json");
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let post = |path: &str, body: Value| -> Value {
        let answer = client
            .post(format!("{url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{path}: {}",
            answer.text().unwrap()
        );
        answer.json().unwrap()
    };
    let started = post("/v1/recordings/start", json!({ "recorder": recorder }));
    let id = started["recording_id"].as_str().unwrap().to_owned();
    post(
        "/v1/recordings/events",
        json!({ "recorder": recorder, "event": { "kind": "click", "time_ms": 5, "target": "#go" } }),
    );
    let summary = post("/v1/recordings/stop", json!({ "recorder": recorder }));
    assert_eq!(summary["steps"], 1, "{summary}");
    let timeline: Value = client
        .get(format!("{url}/v1/recordings/{id}/timeline?viewer={viewer}"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        timeline["steps"][0]["description"], "click #go",
        "{timeline}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
