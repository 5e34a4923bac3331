//! `pincer mcp` over stdio, driven line by line as an MCP client would: the handshake
//! in each supported protocol version, tools of installed plugins, a plugin fault as an
//! `isError` result, unknown methods, and a clean exit on end of input.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};

use pincer_test_support::{McpStdio, Pincer, fixture};
use serde_json::{Value, json};

struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Session {
    fn start(p: &Pincer) -> Self {
        let mut child = p
            .command(&["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Session {
            child,
            stdin,
            stdout,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// Send a request and read lines until its response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.request_all(method, params).pop().unwrap()
    }

    /// Send a request; every message read until its response, the response last.
    fn request_all(&mut self, method: &str, params: Value) -> Vec<Value> {
        let mut seen = Vec::new();
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the server closed its output"
            );
            let message: Value = serde_json::from_str(&line).unwrap();
            let done = message["id"] == json!(id);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    fn initialize(&mut self, version: &str) -> Value {
        let response = self.request(
            "initialize",
            json!({
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": { "name": "pincer-test", "version": "1" }
            }),
        );
        self.send(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }));
        response
    }

    /// Close stdin and wait (bounded) for a clean exit.
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("pincer mcp did not exit after end of input");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn served() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    for (name, id) in [
        ("well-behaved", "com.example.echo"),
        ("panic", "com.example.boom"),
    ] {
        let bundle = p.bundle(&fixture(name), id, "1.0.0", "", &key);
        p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    }
    p
}

#[test]
fn serves_installed_tools_and_survives_a_plugin_fault() {
    let p = served();
    let mut s = Session::start(&p);
    let init = s.initialize("2025-06-18");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert_eq!(init["result"]["serverInfo"]["name"], "pincer");

    let list = s.request("tools/list", json!({}));
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"echo__echo") && names.contains(&"boom__explode"),
        "{names:?}"
    );
    let echo = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "echo__echo")
        .unwrap();
    assert!(!echo["description"].as_str().unwrap().is_empty());
    assert_eq!(echo["inputSchema"]["type"], "object");

    let call = s.request(
        "tools/call",
        json!({ "name": "echo__echo", "arguments": { "text": "over MCP" } }),
    );
    assert_eq!(call["result"]["isError"], false, "{call}");
    assert_eq!(call["result"]["content"][0]["text"], "over MCP");

    let fault = s.request(
        "tools/call",
        json!({ "name": "boom__explode", "arguments": {} }),
    );
    assert_eq!(fault["result"]["isError"], true, "{fault}");
    assert!(
        fault["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("panicked"),
        "{fault}"
    );

    // The server goes on after the fault.
    let again = s.request(
        "tools/call",
        json!({ "name": "echo__echo", "arguments": { "text": "still here" } }),
    );
    assert_eq!(again["result"]["content"][0]["text"], "still here");

    let unknown = s.request(
        "tools/call",
        json!({ "name": "echo__nope", "arguments": {} }),
    );
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown tool"),
        "{unknown}"
    );
    assert!(s.finish().success());
}

#[test]
fn negotiates_versions_and_answers_ping_set_level_and_unknown_methods() {
    let p = served();
    let mut s = Session::start(&p);
    let init = s.initialize("2025-11-25");
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25", "{init}");
    assert_eq!(s.request("ping", json!({}))["result"], json!({}));
    let level = s.request("logging/setLevel", json!({ "level": "info" }));
    assert!(level.get("error").is_none(), "{level}");
    // A `server/discover` without the 2026-07-28 request metadata is invalid params
    // (-32602), naming what is missing, as that revision says; an unknown method gets
    // -32601.
    let probe = s.request("server/discover", json!({}));
    assert_eq!(probe["error"]["code"], -32602, "{probe}");
    assert!(
        probe["error"]["message"]
            .as_str()
            .unwrap()
            .contains("io.modelcontextprotocol/protocolVersion"),
        "{probe}"
    );
    let probe = s.request("pincer/no-such-method", json!({}));
    assert_eq!(probe["error"]["code"], -32601, "{probe}");
    assert!(s.finish().success());

    // A version it does not speak gets one it does.
    let mut s = Session::start(&p);
    let init = s.initialize("1999-01-01");
    let version = init["result"]["protocolVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(version == "2025-06-18" || version == "2025-11-25", "{init}");
    assert!(s.finish().success());
}

#[test]
fn a_2025_client_subscribes_to_a_resource_and_hears_when_its_plugin_is_updated() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.reference_bundle("conformance", &key, |t| t.to_owned());
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    let mut s = Session::start(&p);
    let init = s.initialize("2025-11-25");
    assert_eq!(
        init["result"]["capabilities"]["resources"]["subscribe"], true,
        "{init}"
    );
    const WATCHED: &str = "test://watched-resource";
    let ok = s.request("resources/subscribe", json!({ "uri": WATCHED }));
    assert_eq!(ok["result"], json!({}), "{ok}");
    let unknown = s.request("resources/subscribe", json!({ "uri": "test://nope" }));
    assert_eq!(unknown["error"]["data"]["uri"], "test://nope", "{unknown}");

    // An update of the plugin that serves it: the subscriber is told.
    let update = p.reference_bundle("conformance", &key, |t| {
        t.replace("version = \"0.1.0\"", "version = \"0.1.1\"")
    });
    p.ok(&["install", update.to_str().unwrap(), "--yes"]);
    let mut told = false;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        if s.request_all("ping", json!({})).iter().any(|m| {
            m["method"] == "notifications/resources/updated" && m["params"]["uri"] == WATCHED
        }) {
            told = true;
            break;
        }
    }
    assert!(
        told,
        "no notifications/resources/updated within 10 s of the update"
    );
    let off = s.request("resources/unsubscribe", json!({ "uri": WATCHED }));
    assert_eq!(off["result"], json!({}), "{off}");
    assert!(s.finish().success());
}

#[test]
fn a_2025_client_hears_the_plugins_log_lines_at_the_level_it_set() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.reference_bundle("conformance", &key, |t| t.to_owned());
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    let mut s = Session::start(&p);
    s.initialize("2025-11-25");
    let call = |s: &mut Session| {
        s.request_all(
            "tools/call",
            json!({ "name": "conformance__test_tool_with_logging", "arguments": {} }),
        )
    };
    let lines = |seen: &[Value]| -> Vec<String> {
        seen.iter()
            .filter(|m| m["method"] == "notifications/message")
            .map(|m| {
                assert_eq!(m["params"]["logger"], "dev.pincer.conformance", "{m}");
                assert_eq!(m["params"]["level"], "info", "{m}");
                m["params"]["data"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    // Before any level is set, every line; they arrive before the result.
    let seen = call(&mut s);
    assert!(seen.last().unwrap()["result"].is_object(), "{seen:?}");
    assert_eq!(
        lines(&seen),
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ],
        "{seen:?}"
    );
    // Above the lines' level, none.
    let set = s.request("logging/setLevel", json!({ "level": "error" }));
    assert!(set.get("error").is_none(), "{set}");
    assert!(lines(&call(&mut s)).is_empty());
    assert!(s.finish().success());
}

/// A client may send calls without waiting for answers. Over stdio the server drops a
/// spent instance only after it has written that call's answer, so before the fix a
/// burst of calls left hundreds of spent instances waiting, emptied the instance pool
/// that every plugin shares, and calls failed with wasmtime's "maximum concurrent
/// limit of 256 for component instances reached". A spent instance now keeps its
/// call's concurrency slot until it is dropped: the burst waits its turn instead.
#[test]
fn a_burst_of_calls_sent_at_once_is_answered_in_full() {
    let p = served();
    let mut server = McpStdio::start(&p);
    let calls = (0..600)
        .map(|i| json!({ "name": "echo__echo", "arguments": { "text": format!("call {i}") } }))
        .collect();
    let answers = server.pipelined("tools/call", calls);
    let failed: Vec<&Value> = answers
        .iter()
        .filter(|a| a["result"]["isError"] != false)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed, the first: {}",
        failed.len(),
        answers.len(),
        failed[0]
    );
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer["result"]["content"][0]["text"], format!("call {i}"));
    }
    // And the server still answers one call at a time afterwards.
    let again = server.call("echo__echo", json!({ "text": "after" }));
    assert_eq!(again["content"][0]["text"], "after", "{again}");
}
