//! A viewer mounts the `recordings` root read-only: from the attacker's side, with the
//! `viewer-writer` fixture, no way of writing into it works (a new file, an append, a
//! truncation, a removal, a new directory, a rename), while reading still does.

use std::process::Child;
use std::time::Duration;

use pincer_test_support::{Pincer, fixture};
use serde_json::{Value, json};

/// The fixture's plugin id.
const WRITER: &str = "test.viewer-writer";

/// What the fixture tries, in the order of its report.
const ATTEMPTS: [&str; 6] = ["create", "append", "truncate", "remove", "mkdir", "rename"];

/// The running gateway, killed on drop.
struct Gateway {
    child: Child,
    url: String,
    token: String,
    client: reqwest::blocking::Client,
}

impl Gateway {
    fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "POST {path}");
        response.json().unwrap()
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap();
        (response.status().as_u16(), response.json().unwrap())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Install the reference recorder and the fixture as a viewer that mounts the
/// `recordings` root read-only at `/recordings`, as the reference viewer does, and
/// start the gateway.
fn setup() -> (Pincer, Gateway) {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("pincer-dev");
    let recorder = p.reference_bundle("recorder", &key, str::to_owned);
    p.ok(&["install", recorder.to_str().unwrap(), "--yes"]);

    // The test support's bundles are all `mcp-server`s: this one is a viewer.
    let manifest = p.path("viewer-writer.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"manifest_version = 1

[plugin]
id = "{WRITER}"
name = "Viewer writer"
version = "1.0.0"
kind = "viewer"
description = "Tries to write into the recordings it may only read."
publisher = "Pincer tests"

[component]
file = "component.wasm"

[[capabilities.filesystem.mounts]]
guest = "/recordings"
root = "recordings"
access = "read-only"
"#
        ),
    )
    .unwrap();
    let bundle = p.path("viewer-writer-bundle");
    p.ok(&[
        "pack",
        manifest.to_str().unwrap(),
        "--component",
        fixture("viewer-writer").to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);

    let (child, url, token) = p.start_server(&["serve", "--port", "0"], "run/gateway.json");
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let gw = Gateway {
        child,
        url,
        token,
        client,
    };
    (p, gw)
}

#[test]
fn viewer_cannot_write_into_the_recordings_it_reads() {
    let (p, gw) = setup();
    let recordings = p.home.path().join("recordings");

    let started = gw.post("/v1/recordings/start", &json!({ "title": "Target" }));
    let id = started["recording_id"].as_str().unwrap().to_owned();
    gw.post(
        "/v1/recordings/events",
        &json!({ "event": { "kind": "click", "time_ms": 10, "target": "#go",
                            "value": null, "sensitive": false, "x": 1, "y": 2 } }),
    );
    gw.post("/v1/recordings/stop", &json!({}));

    // The targets exist, so that a denial below cannot be a missing file's.
    let dir = recordings.join(&id);
    let events = std::fs::read(dir.join("events.jsonl")).unwrap();
    assert!(!events.is_empty());
    assert!(dir.join("meta.json").is_file());

    let (status, body) = gw.get(&format!("/v1/recordings/{id}?viewer={WRITER}"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );
    let report = body["error"]["message"].as_str().unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), ATTEMPTS.len() + 1, "{report}");
    for (line, attempt) in lines.iter().zip(ATTEMPTS) {
        let kind = line
            .strip_prefix(&format!("{attempt}: denied ("))
            .unwrap_or_else(|| panic!("`{attempt}` was not denied:\n{report}"));
        assert_ne!(
            kind, "NotFound)",
            "`{attempt}` missed its target:\n{report}"
        );
    }
    assert_eq!(lines[ATTEMPTS.len()], "read: ok", "{report}");

    // And on disk: nothing changed.
    assert_eq!(std::fs::read(dir.join("events.jsonl")).unwrap(), events);
    for planted in [
        recordings.join("planted.txt"),
        recordings.join("moved"),
        dir.join("x"),
    ] {
        assert!(!planted.exists(), "{} was written", planted.display());
    }
}
