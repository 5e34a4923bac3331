//! Recording and viewing through the gateway with the reference `recorder` and
//! `viewer` plugins: events refused outside a session, the record → stop → timeline →
//! frame → map-input flow, and sensitive input redacted in what was written.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use pincer_test_support::Pincer;
use serde_json::{Value, json};

/// A JPEG header of a `width`×`height` image: SOI, a baseline start-of-frame, EOI.
fn jpeg(width: u16, height: u16, tag: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&[0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
    // Something that tells frames apart.
    b.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x03, tag]);
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

struct Gateway {
    child: Child,
    url: String,
    token: String,
    client: reqwest::blocking::Client,
}

impl Gateway {
    fn post(&self, path: &str, body: &Value) -> reqwest::blocking::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .unwrap()
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .unwrap()
    }

    fn frame(&self, time_ms: u64, bytes: Vec<u8>) -> reqwest::blocking::Response {
        self.client
            .post(format!(
                "{}/v1/recordings/frames?time_ms={time_ms}",
                self.url
            ))
            .bearer_auth(&self.token)
            .header("content-type", "image/jpeg")
            .body(bytes)
            .send()
            .unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A home with the recorder and viewer installed, and the gateway running on it. The
/// `recordings` root is Pincer's own, `$PINCER_HOME/recordings`.
fn setup() -> (Pincer, Gateway, std::path::PathBuf) {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("pincer-dev");
    let recordings = p.home.path().join("recordings");
    for name in ["recorder", "viewer"] {
        let bundle = p.reference_bundle(name, &key, str::to_owned);
        p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    }
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
    (p, gw, recordings)
}

fn code(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// Every byte written under `dir`, as text.
fn everything_under(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.push_str(&everything_under(&path));
        } else {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

#[test]
fn records_only_in_a_session_redacts_and_views_the_recording() {
    let (_p, gw, recordings) = setup();
    let event = |kind: &str, time_ms: u64, target: &str, value: Option<&str>, sensitive: bool| {
        json!({ "event": { "kind": kind, "time_ms": time_ms, "target": target,
                           "value": value, "sensitive": sensitive, "x": 640, "y": 360 } })
    };

    // Outside a session: refused, counted, nothing stored.
    let early = gw.post(
        "/v1/recordings/events",
        &event("click", 0, "#early", None, false),
    );
    assert_eq!(code(early), (409, "no_session".into()));
    assert_eq!(
        code(gw.frame(0, jpeg(1280, 720, 0))),
        (409, "no_session".into())
    );
    let stored = std::fs::read_dir(&recordings).map_or(0, |d| d.count());
    assert_eq!(stored, 0, "something was stored outside a session");

    let started: Value = gw
        .post("/v1/recordings/start", &json!({ "title": "Sign in" }))
        .json()
        .unwrap();
    let id = started["recording_id"].as_str().unwrap().to_owned();
    assert_eq!(
        code(gw.post("/v1/recordings/start", &json!({}))),
        (409, "already_recording".into())
    );
    for body in [
        event("navigate", 10, "https://example.com/login", None, false),
        event("input", 200, "#user", Some("ada"), false),
        event("input", 400, "#pin-field", Some("hunter2-sensitive"), true),
        event(
            "input",
            600,
            "input[type=password]",
            Some("correct horse"),
            false,
        ),
        event(
            "input",
            800,
            "#note",
            Some("card 4111 1111 1111 1111 please"),
            false,
        ),
        event("click", 1000, "#submit", None, false),
    ] {
        let answer = gw.post("/v1/recordings/events", &body);
        assert_eq!(answer.status(), 200, "{}", answer.text().unwrap());
    }
    assert_eq!(gw.frame(100, jpeg(1280, 720, 1)).status(), 200);
    assert_eq!(gw.frame(900, jpeg(1280, 720, 2)).status(), 200);
    // Not a JPEG: refused, the session goes on.
    let png = b"\x89PNG\r\n\x1a\n....".to_vec();
    assert_eq!(code(gw.frame(950, png)), (400, "invalid".into()));

    let summary: Value = gw.post("/v1/recordings/stop", &json!({})).json().unwrap();
    assert_eq!(summary["recording_id"], id.as_str());
    assert_eq!(summary["steps"], 6, "{summary}");
    assert_eq!(summary["frames"], 2, "{summary}");
    assert_eq!(summary["redactions"], 3, "{summary}");
    assert_eq!(summary["refused"], 2, "{summary}");
    assert_eq!(
        code(gw.post("/v1/recordings/stop", &json!({}))),
        (409, "no_session".into())
    );

    // What was written holds no secret, and shows where redaction happened.
    let written = everything_under(&recordings.join(&id));
    for secret in ["hunter2-sensitive", "correct horse", "4111 1111 1111 1111"] {
        assert!(!written.contains(secret), "`{secret}` was written");
    }
    assert!(written.contains("[redacted]"), "{written}");
    assert!(written.contains("[redacted:card]"), "{written}");
    assert!(written.contains("ada"), "ordinary input is kept");

    // The viewer: overview, timeline, frames by index and time, input mapping.
    let info: Value = gw.get(&format!("/v1/recordings/{id}")).json().unwrap();
    assert_eq!(info["title"], "Sign in");
    assert_eq!(
        (
            info["screen_width"].as_u64(),
            info["screen_height"].as_u64()
        ),
        (Some(1280), Some(720))
    );
    let timeline: Value = gw
        .get(&format!("/v1/recordings/{id}/timeline"))
        .json()
        .unwrap();
    let steps = timeline["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6);
    assert_eq!(steps[0]["time_ms"], 10);
    let descriptions: Vec<&str> = steps
        .iter()
        .map(|s| s["description"].as_str().unwrap())
        .collect();
    assert!(
        descriptions[0].contains("https://example.com/login"),
        "{descriptions:?}"
    );
    assert!(descriptions[5].contains("#submit"), "{descriptions:?}");
    assert!(
        !descriptions.join(" ").contains("hunter2"),
        "{descriptions:?}"
    );

    let first = gw.get(&format!("/v1/recordings/{id}/frames/0"));
    assert_eq!(first.headers()["content-type"], "image/jpeg");
    assert_eq!(first.bytes().unwrap().to_vec(), jpeg(1280, 720, 1));
    let at = gw.get(&format!("/v1/recordings/{id}/frame?time_ms=899"));
    assert_eq!(at.headers()["x-frame-index"], "0");
    let at = gw.get(&format!("/v1/recordings/{id}/frame?time_ms=900"));
    assert_eq!(at.headers()["x-frame-index"], "1");
    assert_eq!(at.bytes().unwrap().to_vec(), jpeg(1280, 720, 2));
    assert_eq!(
        code(gw.get(&format!("/v1/recordings/{id}/frames/7"))).0,
        404
    );

    // A 640×480 viewer shows the 16:9 screen as 640×360 with 60 px bars above and
    // below: its centre is the screen's centre, and a bar maps to nothing.
    let map = |x: f64, y: f64| -> Value {
        gw.post(
            &format!("/v1/recordings/{id}/map-input"),
            &json!({ "viewport": { "width": 640, "height": 480 }, "point": { "x": x, "y": y } }),
        )
        .json()
        .unwrap()
    };
    let centre = map(320.0, 240.0);
    assert_eq!(
        (centre["point"]["x"].as_f64(), centre["point"]["y"].as_f64()),
        (Some(640.0), Some(360.0))
    );
    assert!(map(320.0, 30.0)["point"].is_null());

    // Ids are checked before any path is made from them.
    assert_eq!(code(gw.get("/v1/recordings/..%2f..%2fetc")).0, 400);
    assert_eq!(code(gw.get("/v1/recordings/rec-nothing-here")).0, 404);

    // Listed; a recording being recorded cannot be deleted; a finished one can.
    let second: Value = gw
        .post("/v1/recordings/start", &json!({ "title": "Second" }))
        .json()
        .unwrap();
    let second = second["recording_id"].as_str().unwrap().to_owned();
    let list: Value = gw.get("/v1/recordings").json().unwrap();
    let listed: Vec<&str> = list["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&id.as_str()) && listed.contains(&second.as_str()),
        "{list}"
    );
    let busy = gw
        .client
        .delete(format!("{}/v1/recordings/{second}", gw.url))
        .bearer_auth(&gw.token)
        .send()
        .unwrap();
    assert_eq!(code(busy), (409, "recording".into()));
    assert_eq!(gw.post("/v1/recordings/stop", &json!({})).status(), 200);
    let delete = |what: &str| {
        gw.client
            .delete(format!("{}/v1/recordings/{what}", gw.url))
            .bearer_auth(&gw.token)
            .send()
            .unwrap()
    };
    assert_eq!(delete(&id).status(), 200);
    assert!(!recordings.join(&id).exists());
    assert!(
        recordings.join(&second).exists(),
        "only the one asked for is deleted"
    );
    assert_eq!(code(delete(&id)), (404, "not_found".into()));
    assert_eq!(code(delete("..%2fkeys")), (400, "invalid".into()));
    assert_eq!(code(gw.get(&format!("/v1/recordings/{id}"))).0, 404);
}

/// A real `width`×`height` JPEG of one colour.
fn real_jpeg(width: u16, height: u16, rgb: [u8; 3]) -> Vec<u8> {
    let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height))
        .flat_map(|_| rgb)
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// The headless browser the export test renders with (Debian's `chromium`, which
/// `scripts/test` installs). Without one the test fails, saying so: it never skips.
fn chromium() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .expect(
            "no Chromium to render the export with: scripts/test installs it \
             (apt-get install chromium)",
        )
}

#[test]
fn exports_a_recording_as_one_page_that_a_browser_shows() {
    let (p, gw, _) = setup();
    let started: Value = gw
        .post("/v1/recordings/start", &json!({ "title": "Export <me>" }))
        .json()
        .unwrap();
    let id = started["recording_id"].as_str().unwrap().to_owned();
    for (kind, time_ms, target) in [
        ("navigate", 0, "https://example.com/form"),
        ("click", 500, "#name"),
        ("click", 1500, "#send"),
    ] {
        let event = json!({ "event": { "kind": kind, "time_ms": time_ms, "target": target } });
        assert_eq!(gw.post("/v1/recordings/events", &event).status(), 200);
    }
    assert_eq!(
        gw.frame(100, real_jpeg(160, 90, [200, 30, 30])).status(),
        200
    );
    assert_eq!(
        gw.frame(1200, real_jpeg(160, 90, [30, 30, 200])).status(),
        200
    );
    assert_eq!(gw.post("/v1/recordings/stop", &json!({})).status(), 200);

    let out = p.path("recording.html");
    let printed = p.ok(&["recordings", "export", &id, "--html", out.to_str().unwrap()]);
    assert!(printed.contains("3 steps, 2 frames"), "{printed}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 2);
    assert!(html.contains("Export &lt;me&gt;"), "the title is escaped");
    assert!(
        !html.contains("src=\"http"),
        "the page loads nothing from the network"
    );

    // Rendered by a real browser: both frames decode, the steps are on the page.
    let browser = chromium();
    let url = format!("file://{}", out.display());
    let dom = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=30000",
            "--dump-dom",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains(r#"data-frames-shown="2""#),
        "the browser did not show both frames:\n{dom:.2000}"
    );
    assert_eq!(
        dom.matches(r#"<li class="step">"#).count(),
        3,
        "{dom:.2000}"
    );
    assert!(dom.contains("https://example.com/form"), "{dom:.2000}");
    assert!(dom.contains("#send"), "{dom:.2000}");
}
