//! The localhost gateway (`pincer serve`) through real HTTP on 127.0.0.1: the guard
//! (401 without or with a wrong token and no detail, 403 for a foreign Host or
//! Origin), 413 for an oversized body, errors of one shape, the API (health, plugins,
//! tools, calls, audit, OpenAPI), MCP at /mcp behind the same checks, the 0600 token
//! file, loopback only, and a graceful stop.

use std::process::Child;
use std::time::Duration;

use pincer_test_support::{Pincer, fixture};
use serde_json::{Value, json};

/// `pincer serve --port 0` on `p`'s home, its URL and token; killed on drop.
struct Gateway {
    child: Child,
    url: String,
    token: String,
}

impl Gateway {
    fn start(p: &Pincer, extra: &[&str]) -> Self {
        let mut args = vec!["serve", "--port", "0"];
        args.extend_from_slice(extra);
        let (child, url, token) = p.start_server(&args, "run/gateway.json");
        Gateway { child, url, token }
    }

    fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    fn get(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::blocking::RequestBuilder {
        client()
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A home with the echo fixture installed.
fn home() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.bundle(
        &fixture("well-behaved"),
        "com.example.echo",
        "1.0.0",
        "",
        &key,
    );
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    p
}

fn error_code(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap();
    assert!(
        body["error"]["message"].is_string(),
        "not the error shape: {body}"
    );
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

#[test]
fn refuses_without_the_token_a_foreign_host_or_origin_and_oversized_bodies() {
    let p = home();
    let gw = Gateway::start(&p, &["--allow-origin", "http://localhost:5173"]);
    let url = format!("{}/v1/health", gw.url);

    // No token, a wrong one, another scheme: 401 with no detail.
    for auth in [None, Some("Bearer 00"), Some("Basic abc")] {
        let mut request = client().get(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(response.text().unwrap(), "", "a 401 says nothing");
    }
    let wrong_token = format!("Bearer {}", "0".repeat(gw.token.len()));
    assert_eq!(
        client()
            .get(&url)
            .header("authorization", wrong_token)
            .send()
            .unwrap()
            .status(),
        401
    );

    // DNS rebinding: a page on evil.example resolved to 127.0.0.1.
    let foreign_host = gw
        .get("/v1/health")
        .header("host", "evil.example:7878")
        .send()
        .unwrap();
    assert_eq!(error_code(foreign_host), (403, "forbidden".into()));
    // A web page posting to localhost from an origin the admin did not allow.
    let foreign_origin = gw
        .get("/v1/health")
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert_eq!(error_code(foreign_origin), (403, "forbidden".into()));
    // The allowed origin gets through, and may read the answer.
    let allowed = gw
        .get("/v1/health")
        .header("origin", "http://localhost:5173")
        .send()
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    // The same checks guard /mcp.
    let mcp = client()
        .post(format!("{}/mcp", gw.url))
        .header("host", "evil.example")
        .bearer_auth(&gw.token)
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(mcp.status(), 403);
    let mcp = client()
        .post(format!("{}/mcp", gw.url))
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(mcp.status(), 401);

    // A body over the limit: 413 in the usual error shape, and the gateway goes on.
    let big = "x".repeat(9 << 20);
    let too_large = gw
        .post(
            "/v1/tools/echo__echo/call",
            &json!({ "arguments": { "text": big } }),
        )
        .send()
        .unwrap();
    assert_eq!(error_code(too_large), (413, "too_large".into()));
    let not_json = client()
        .post(format!("{}/v1/tools/echo__echo/call", gw.url))
        .bearer_auth(&gw.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(error_code(not_json).0, 400);
    let unknown = gw.get("/v1/nothing-here").send().unwrap();
    assert_eq!(error_code(unknown), (404, "not_found".into()));
    assert_eq!(gw.get("/v1/health").send().unwrap().status(), 200);
}

#[test]
fn lists_and_calls_tools_reads_the_audit_and_serves_its_openapi_document() {
    let p = home();
    let gw = Gateway::start(&p, &[]);

    let health: Value = gw.get("/v1/health").send().unwrap().json().unwrap();
    assert_eq!(health["ok"], true);

    let plugins: Value = gw.get("/v1/plugins").send().unwrap().json().unwrap();
    assert_eq!(plugins["plugins"][0]["id"], "com.example.echo");
    assert_eq!(plugins["plugins"][0]["kind"], "mcp-server");

    let tools: Value = gw.get("/v1/tools").send().unwrap().json().unwrap();
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"echo__echo"), "{names:?}");

    let echoed: Value = gw
        .post(
            "/v1/tools/echo__echo/call",
            &json!({ "arguments": { "text": "via the gateway" } }),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(echoed["isError"], false, "{echoed}");
    assert_eq!(echoed["content"][0]["text"], "via the gateway");
    let summed: Value = gw
        .post(
            "/v1/tools/echo__add/call",
            &json!({ "arguments": { "a": 2, "b": 3 } }),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(summed["structuredContent"]["sum"], 5.0, "{summed}");

    // Checked against the input schema before the plugin runs.
    let rejected: Value = gw
        .post(
            "/v1/tools/echo__echo/call",
            &json!({ "arguments": { "text": 7 } }),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(rejected["isError"], true);
    assert!(
        rejected["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("do not match its input schema"),
        "{rejected}"
    );
    let unknown = gw
        .post("/v1/tools/echo__nope/call", &json!({}))
        .send()
        .unwrap();
    let (status, code) = error_code(unknown);
    assert_eq!((status, code.as_str()), (404, "not_found"));

    // The audit since a sequence number: the install is there; nothing after `next`.
    let audit: Value = gw.get("/v1/audit?since=0").send().unwrap().json().unwrap();
    let records = audit["records"].as_array().unwrap();
    assert!(records.iter().any(|r| r["event"] == "install"), "{audit}");
    let next = audit["next"].as_u64().unwrap();
    assert_eq!(records.last().unwrap()["seq"], next);
    let after: Value = gw
        .get(&format!("/v1/audit?since={next}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(after["records"].as_array().unwrap().len(), 0, "{after}");
    let bad = gw.get("/v1/audit?since=yesterday").send().unwrap();
    assert_eq!(error_code(bad).0, 400);

    // The OpenAPI document lists every route, and every GET route answers.
    let doc: Value = gw.get("/v1/openapi.json").send().unwrap().json().unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (method, path) in pincer::gateway::openapi::ROUTES {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        // (Recordings need a viewer, which this home lacks: tests/all/recordings.rs.)
        if *method == "get" && !path.contains('{') && !path.starts_with("/v1/recordings") {
            assert_eq!(gw.get(path).send().unwrap().status(), 200, "GET {path}");
        }
    }

    // MCP at /mcp behind the same token.
    let init = client()
        .post(format!("{}/mcp", gw.url))
        .bearer_auth(&gw.token)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": { "name": "gateway-test", "version": "1" } }
        }))
        .send()
        .unwrap();
    assert_eq!(init.status(), 200);
    assert!(init.headers().contains_key("mcp-session-id"));
    assert!(gw.authority().starts_with("127.0.0.1:"));
}

#[test]
fn binds_loopback_only_writes_a_private_token_file_and_stops_cleanly() {
    let p = home();
    let key = p.trusted_key("spinner");
    let spin = p.bundle(
        &fixture("infinite-loop"),
        "com.example.spin",
        "1.0.0",
        "[limits]\ntimeout_ms = 6000\n",
        &key,
    );
    p.ok(&["install", spin.to_str().unwrap(), "--yes"]);
    let refused = p
        .command(&["serve", "--bind", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("loopback only"), "{why}");

    let mut gw = Gateway::start(&p, &[]);
    let file = p.home.path().join("run/gateway.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        written["port"].as_u64().unwrap().to_string(),
        gw.authority().rsplit(':').next().unwrap()
    );

    // SIGTERM while a call runs: the call still gets its answer, then the gateway
    // exits 0 and removes its token file.
    #[cfg(unix)]
    {
        let (url, token) = (gw.url.clone(), gw.token.clone());
        let in_flight = std::thread::spawn(move || {
            client()
                .post(format!("{url}/v1/tools/spin__spin/call"))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .map(|r| (r.status().as_u16(), r.json::<Value>().unwrap()))
        });
        // The call runs for 6 s; 2 s is ample for it to reach the plugin on a loaded
        // machine, and leaves it running when the signal comes.
        std::thread::sleep(Duration::from_secs(2));
        let pid = gw.child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = gw.child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        assert!(!file.exists(), "the token file outlived the gateway");
        let (code, answer) = in_flight
            .join()
            .unwrap()
            .expect("the call in flight was cut off");
        assert_eq!(code, 200);
        assert!(
            answer["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("timed out"),
            "{answer}"
        );
    }
}

#[test]
fn an_ask_approval_is_answered_through_the_api_or_times_out_as_no() {
    let p = home();
    let key = p.trusted_key("asker");
    let bundle = p.bundle(
        &fixture("approval-probe"),
        "com.example.approve",
        "1.0.0",
        "[capabilities.approval]\nactions = [\"report\"]\n",
        &key,
    );
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    // The same plugin again, whose questions nobody answers.
    let silent = p.bundle(
        &fixture("approval-probe"),
        "com.example.silent",
        "1.0.0",
        "[capabilities.approval]\nactions = [\"report\"]\n",
        &key,
    );
    p.ok(&["install", silent.to_str().unwrap(), "--yes"]);
    // Time enough for the test to see and answer a question on a loaded machine; the
    // silent one's questions expire after 2 s.
    std::fs::write(
        p.home.path().join("policy.toml"),
        "[approvals.\"com.example.approve\"]\ndefault = \"ask\"\ntimeout_s = 60\n\n\
         [approvals.\"com.example.silent\"]\ndefault = \"ask\"\ntimeout_s = 2\n",
    )
    .unwrap();
    let gw = Gateway::start(&p, &[]);
    let ask_of = |alias: &'static str| {
        let (url, token) = (gw.url.clone(), gw.token.clone());
        std::thread::spawn(move || {
            client()
                .post(format!("{url}/v1/tools/{alias}__ask/call"))
                .bearer_auth(token)
                .json(&json!({ "arguments": { "action": "report" } }))
                .send()
                .unwrap()
                .json::<Value>()
                .unwrap()
        })
    };
    let ask = || ask_of("approve");
    // Wait (bounded) for the question to show up.
    let pending = || -> Vec<Value> {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let list: Value = gw.get("/v1/approvals").send().unwrap().json().unwrap();
            let pending = list["pending"].as_array().unwrap().clone();
            if !pending.is_empty() {
                return pending;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no approval question appeared");
    };

    // Answered yes through the API.
    let call = ask();
    let question = pending();
    assert_eq!(question.len(), 1);
    assert_eq!(question[0]["plugin"], "com.example.approve");
    assert_eq!(question[0]["action"], "report");
    let id = question[0]["id"].as_u64().unwrap();
    let answered = gw
        .post(&format!("/v1/approvals/{id}"), &json!({ "approve": true }))
        .send()
        .unwrap();
    assert_eq!(answered.status(), 200);
    let result = call.join().unwrap();
    assert_eq!(result["content"][0]["text"], "approved", "{result}");
    // Answering again: it is no longer waiting.
    let again = gw
        .post(&format!("/v1/approvals/{id}"), &json!({ "approve": true }))
        .send()
        .unwrap();
    assert_eq!(error_code(again), (404, "not_found".into()));

    // A no, with its reason passed on.
    let call = ask();
    let id = pending()[0]["id"].as_u64().unwrap();
    gw.post(
        &format!("/v1/approvals/{id}"),
        &json!({ "approve": false, "reason": "not today" }),
    )
    .send()
    .unwrap();
    let result = call.join().unwrap();
    let text = result["content"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("not today"), "{result}");

    // Nobody answers: after the policy's 2 s the answer is no, and the question is gone.
    let call = ask_of("silent");
    pending();
    let result = call.join().unwrap();
    let text = result["content"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("no answer within 2 s"), "{result}");
    let list: Value = gw.get("/v1/approvals").send().unwrap().json().unwrap();
    assert_eq!(list["pending"].as_array().unwrap().len(), 0);
}
