//! `pincer mcp` for clients of MCP 2026-07-28, spoken as raw JSON-RPC so that the test
//! can change what a client sends: no handshake, the revision and the client's
//! capabilities in every request's `_meta`, `server/discover`, and approvals by multi
//! round-trip requests: the call answers `input_required` with the question and a
//! `requestState`, and the retry with the person's answer gets the plugin's result. A
//! replayed, changed or foreign state is refused; two clients interleaving calls and
//! approvals over one HTTP server never see each other's.

use std::process::Child;

use pincer_test_support::{McpStdio, Pincer, fixture};
use serde_json::{Value, json};

const V2026: &str = "2026-07-28";

/// A home serving the approval probe (`approve__ask`) and an echo (`echo__echo`);
/// `python_mcp` serves the same.
pub(crate) fn served() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    for (name, id, sections) in [
        ("well-behaved", "com.example.echo", ""),
        (
            "approval-probe",
            "com.example.approve",
            "[capabilities.approval]\nactions = [\"report\", \"deploy\"]\n",
        ),
    ] {
        let bundle = p.bundle(&fixture(name), id, "1.0.0", sections, &key);
        p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    }
    p
}

/// The `_meta` a 2026-07-28 client that declares `capabilities` puts on every request.
pub(crate) fn meta_declaring(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": V2026,
        "io.modelcontextprotocol/clientInfo": { "name": "pincer-tests", "version": "1" },
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    })
}

/// `params` with the `_meta` of a client that can ask its user (form elicitation), or
/// not.
fn with_meta(mut params: Value, can_ask: bool) -> Value {
    let capabilities = if can_ask {
        json!({ "elicitation": { "form": {} } })
    } else {
        json!({})
    };
    params["_meta"] = meta_declaring(capabilities);
    params
}

/// `pincer mcp` on stdio, without a handshake, every request with a 2026-07-28
/// client's `_meta`; ends when dropped.
struct Stdio2026(McpStdio);

impl Stdio2026 {
    fn start(p: &Pincer) -> Self {
        Stdio2026(McpStdio::spawn(p))
    }

    /// The answer to `method` with `params` (and the `_meta` of a client that can ask
    /// its user, or not).
    fn request(&mut self, method: &str, params: Value, can_ask: bool) -> Value {
        self.0.request(method, with_meta(params, can_ask))
    }

    /// Send request `method`; its id.
    fn send(&mut self, method: &str, params: Value, can_ask: bool) -> u64 {
        self.0.send(method, with_meta(params, can_ask))
    }

    /// Every message up to and including the answer to request `id`.
    fn until(&mut self, id: u64) -> Vec<Value> {
        self.0.until(id)
    }
}

/// `pincer mcp --http`, spoken to with one POST per request; killed on drop.
struct Http2026 {
    child: Child,
    url: String,
    token: String,
    client: reqwest::blocking::Client,
}

impl Http2026 {
    fn start(p: &Pincer) -> Self {
        let _ = std::fs::remove_file(p.home.path().join("run/mcp-http.json"));
        let (child, url, token) =
            p.start_server(&["mcp", "--http", "127.0.0.1:0"], "run/mcp-http.json");
        Http2026 {
            child,
            url,
            token,
            client: reqwest::blocking::Client::new(),
        }
    }

    fn request(&self, id: u64, method: &str, params: Value, can_ask: bool) -> Value {
        let name = params["name"].as_str().map(str::to_owned);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method,
                           "params": with_meta(params, can_ask) });
        let mut request = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", V2026)
            .header("Mcp-Method", method)
            .json(&body);
        if let Some(name) = name {
            request = request.header("Mcp-Name", name);
        }
        let response = request.send().expect("POST to pincer mcp --http");
        let status = response.status();
        let text = response.text().unwrap();
        assert!(status.is_success(), "{status}: {text}");
        // One JSON body, or an SSE stream whose data lines carry the answer.
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            return value;
        }
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {id} in {text}"))
    }
}

impl Drop for Http2026 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ask(action: &str) -> Value {
    json!({ "name": "approve__ask", "arguments": { "action": action } })
}

fn retry(action: &str, state: &Value, approve: bool) -> Value {
    let mut params = ask(action);
    params["requestState"] = state.clone();
    params["inputResponses"] = json!({
        "approval": { "action": "accept", "content": { "approve": approve } }
    });
    params
}

fn text(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {answer}"))
        .to_owned()
}

/// The question and state of an `input_required` answer.
fn input_required(answer: &Value) -> (Value, Value) {
    let result = &answer["result"];
    assert_eq!(result["resultType"], "input_required", "{answer}");
    let question = result["inputRequests"]["approval"].clone();
    assert_eq!(question["method"], "elicitation/create", "{answer}");
    (question, result["requestState"].clone())
}

#[test]
fn a_2026_client_discovers_lists_and_calls_without_a_handshake() {
    let p = served();
    let mut mcp = Stdio2026::start(&p);
    let discover = mcp.request("server/discover", json!({}), true);
    let versions = &discover["result"]["supportedVersions"];
    assert!(
        versions.as_array().unwrap().iter().any(|v| v == V2026)
            && versions
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == "2025-11-25"),
        "{discover}"
    );
    let list = mcp.request("tools/list", json!({}), true);
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in ["approve__ask", "approve__sync", "echo__echo"] {
        assert!(names.contains(&expected), "{expected} missing from {list}");
    }
    // In name order, the same for every client.
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(list["result"]["ttlMs"].as_u64().is_some(), "{list}");
    let echo = mcp.request(
        "tools/call",
        json!({ "name": "echo__echo", "arguments": { "text": "hi" } }),
        true,
    );
    assert!(text(&echo).contains("hi"), "{echo}");
}

#[test]
fn an_approval_is_asked_by_multi_round_trip_and_the_retry_gets_the_answer() {
    let p = served();
    let mut mcp = Stdio2026::start(&p);
    let first = mcp.request("tools/call", ask("report"), true);
    let (question, state) = input_required(&first);
    let message = question["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("com.example.approve") && message.contains("report"),
        "{question}"
    );
    let approved = mcp.request("tools/call", retry("report", &state, true), true);
    assert_eq!(text(&approved), "approved", "{approved}");
    // A no is the plugin's to hear.
    let (_, state) = input_required(&mcp.request("tools/call", ask("report"), true));
    let declined = mcp.request("tools/call", retry("report", &state, false), true);
    assert!(text(&declined).starts_with("rejected"), "{declined}");
    // A client that cannot ask its user is told so, as before.
    let cannot = mcp.request("tools/call", ask("report"), false);
    assert!(text(&cannot).contains("cannot ask its user"), "{cannot}");
    let audit = std::fs::read_to_string(p.home.path().join("audit/log.jsonl")).unwrap();
    assert_eq!(audit.matches("\"approval-answer\"").count(), 3, "{audit}");
}

#[test]
fn a_replayed_changed_or_foreign_request_state_is_refused() {
    let p = served();
    let mut mcp = Stdio2026::start(&p);
    let (_, state) = input_required(&mcp.request("tools/call", ask("report"), true));
    // The same state for another call (other arguments) opens nothing.
    let foreign = mcp.request("tools/call", retry("deploy", &state, true), true);
    assert!(
        foreign["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid for this call")),
        "{foreign}"
    );
    // A changed state opens nothing: a character of its payload (what it says was
    // answered), not only of its tag.
    let sealed = state.as_str().unwrap();
    let at = sealed.find('.').unwrap() + 5;
    let mut changed = sealed.as_bytes().to_vec();
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(changed).unwrap();
    let tampered = mcp.request("tools/call", retry("report", &json!(changed), true), true);
    assert!(
        tampered["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid for this call")),
        "{tampered}"
    );
    // The genuine retry works once; a replay is refused.
    let approved = mcp.request("tools/call", retry("report", &state, true), true);
    assert_eq!(text(&approved), "approved", "{approved}");
    let replayed = mcp.request("tools/call", retry("report", &state, true), true);
    assert!(
        replayed["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("used already")),
        "{replayed}"
    );
    // Another server process never issued it.
    drop(mcp);
    let mut other = Stdio2026::start(&p);
    let elsewhere = other.request("tools/call", retry("report", &state, true), true);
    assert!(
        elsewhere["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid for this call")),
        "{elsewhere}"
    );
    let audit = std::fs::read_to_string(p.home.path().join("audit/log.jsonl")).unwrap();
    assert_eq!(audit.matches("\"approval-answer\"").count(), 1, "{audit}");
}

#[test]
fn two_http_clients_interleaving_approvals_see_only_their_own() {
    let p = served();
    let server = Http2026::start(&p);
    // Both ask; each gets its own question and state.
    let (_, state_a) = input_required(&server.request(1, "tools/call", ask("report"), true));
    let (_, state_b) = input_required(&server.request(1, "tools/call", ask("deploy"), true));
    assert_ne!(state_a, state_b);
    // B's no does not answer A's question, and A's state does not open B's call.
    let b_with_a = server.request(2, "tools/call", retry("deploy", &state_a, true), true);
    assert!(b_with_a["error"].is_object(), "{b_with_a}");
    let b = server.request(3, "tools/call", retry("deploy", &state_b, false), true);
    assert!(text(&b).starts_with("rejected"), "{b}");
    let a = server.request(3, "tools/call", retry("report", &state_a, true), true);
    assert_eq!(text(&a), "approved", "{a}");
    // The same request id from two clients is two requests.
    let echo = server.request(
        3,
        "tools/call",
        json!({ "name": "echo__echo", "arguments": { "text": "mine" } }),
        true,
    );
    assert!(text(&echo).contains("mine"), "{echo}");
}

#[test]
fn a_listening_client_is_told_when_the_tool_list_changes() {
    let p = served();
    let mut mcp = Stdio2026::start(&p);
    let listen = mcp.send(
        "subscriptions/listen",
        json!({ "notifications": { "toolsListChanged": true } }),
        true,
    );
    // The cache hint goes to this revision's clients.
    let first = mcp.request("tools/list", json!({}), true);
    assert!(first["result"]["ttlMs"].as_u64().is_some(), "{first}");
    assert_eq!(first["result"]["cacheScope"], "private", "{first}");
    // An install while the server runs changes the list.
    let key = p.trusted_key("later");
    let bundle = p.bundle(
        &fixture("well-behaved"),
        "com.example.extra",
        "1.0.0",
        "",
        &key,
    );
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    let mut told = false;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let ping = mcp.send("tools/list", json!({}), true);
        let seen = mcp.until(ping);
        if seen.iter().any(|m| {
            m["method"] == "notifications/tools/list_changed"
                && m["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen
        }) {
            told = true;
            break;
        }
    }
    assert!(
        told,
        "no notifications/tools/list_changed on the subscription within 10 s"
    );
}

/// A home serving the conformance plugin (`conformance__*`); `mcp_tasks` uses it too.
pub(crate) fn served_conformance() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.reference_bundle("conformance", &key, |t| t.to_owned());
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    p
}

#[test]
fn a_2026_client_hears_log_lines_only_at_the_level_its_request_asks_for() {
    let p = served_conformance();
    let mut mcp = Stdio2026::start(&p);
    let logging = json!({ "name": "conformance__test_logging_tool", "arguments": {} });
    for (level, lines) in [(None, 0), (Some("info"), 2), (Some("warning"), 0)] {
        let mut params = with_meta(logging.clone(), true);
        if let Some(level) = level {
            params["_meta"]["io.modelcontextprotocol/logLevel"] = json!(level);
        }
        let id = mcp.0.send("tools/call", params);
        let seen = mcp.until(id);
        let (answer, before) = seen.split_last().unwrap();
        assert_eq!(text(answer), "Logging tool executed", "{answer}");
        let logged: Vec<&Value> = before
            .iter()
            .filter(|m| m["method"] == "notifications/message")
            .collect();
        assert_eq!(logged.len(), lines, "level {level:?}: {seen:?}");
        for m in &logged {
            assert_eq!(m["params"]["logger"], "dev.pincer.conformance", "{m}");
            assert_eq!(m["params"]["level"], "info", "{m}");
        }
        if lines > 0 {
            assert_eq!(logged[0]["params"]["data"], "Logging tool started");
        }
    }
}

#[test]
fn an_mcp_param_header_must_match_the_argument_it_annotates() {
    let p = served_conformance();
    let http = Http2026::start(&p);
    let post = |id: u64, region: &str, header: Option<&str>| {
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": with_meta(json!({ "name": "conformance__test_header_param",
                                        "arguments": { "region": region } }), false) });
        let mut request = http
            .client
            .post(&http.url)
            .bearer_auth(&http.token)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", V2026)
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "conformance__test_header_param")
            .json(&body);
        if let Some(header) = header {
            request = request.header("Mcp-Param-Region", header);
        }
        let response = request.send().expect("POST to pincer mcp --http");
        (response.status().as_u16(), response.text().unwrap())
    };
    // The header as sent, or base64-encoded, matches: the tool runs.
    for (id, header) in [(1, "eu-west"), (2, "=?base64?ZXUtd2VzdA==?=")] {
        let (status, body) = post(id, "eu-west", Some(header));
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Region: eu-west"), "{body}");
    }
    // Another value, a header left out or broken base64 is refused before any plugin
    // runs: a proxy that routed on the header saw something else than the plugin would.
    for (id, header) in [
        (3, Some("us-east")),
        (4, None),
        (5, Some("=?base64?ZXUtd2VzdA?=")),
    ] {
        let (status, body) = post(id, "eu-west", header);
        assert_eq!(status, 400, "{header:?}: {body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(error["error"]["code"], -32020, "{body}");
    }
}
