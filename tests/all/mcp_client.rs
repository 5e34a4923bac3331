//! `pincer mcp` driven by a real MCP client library (rmcp's client) from another
//! process: over stdio and over Streamable HTTP, list, call, schema rejection, a plugin
//! fault, cancellation, `list_changed` on install and removal, approvals through
//! elicitation, aliases, and the HTTP endpoint's refusals (token, Host, Origin).

use std::process::{Child, Stdio};
use std::time::Duration;

use pincer_test_support::{Pincer, fixture};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientRequest,
    ElicitRequestParams, ElicitResult, ElicitationAction, Implementation,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RequestContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A test client: tells the test when the tool list changed, and answers approval
/// elicitations with `approve` (or declares no elicitation support when `None`).
#[derive(Clone)]
struct TestClient {
    changed: mpsc::UnboundedSender<()>,
    approve: Option<bool>,
}

impl ClientHandler for TestClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities: ClientCapabilities = if self.approve.is_some() {
            serde_json::from_value(json!({ "elicitation": { "form": {} } })).unwrap()
        } else {
            ClientCapabilities::default()
        };
        ClientConfig::new(capabilities, Implementation::new("pincer-test", "1"))
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.changed.send(());
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let ElicitRequestParams::FormElicitationParams { message, .. } = request else {
            panic!("Pincer asks with a form");
        };
        assert!(message.contains("Send the weekly report"), "{message}");
        let mut result = ElicitResult::new(ElicitationAction::Accept);
        result.content = Some(json!({ "approve": self.approve.unwrap() }));
        Ok(result)
    }
}

type Client = RunningService<RoleClient, TestClient>;

fn test_client(approve: Option<bool>) -> (TestClient, mpsc::UnboundedReceiver<()>) {
    let (changed, rx) = mpsc::unbounded_channel();
    (TestClient { changed, approve }, rx)
}

/// A home with plugins installed: an echo (also with a 1 s timeout), one that panics,
/// one that loops, and one that asks for approval.
fn served() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    for (name, id, sections) in [
        ("well-behaved", "com.example.echo", ""),
        (
            "well-behaved",
            "com.example.quick",
            "[limits]\ntimeout_ms = 4000\n",
        ),
        ("panic", "com.example.boom", ""),
        (
            "infinite-loop",
            "com.example.spin",
            "[limits]\ntimeout_ms = 30000\nconcurrency = 1\n",
        ),
        (
            "approval-probe",
            "com.example.approve",
            "[capabilities.approval]\nactions = [\"report\"]\n",
        ),
    ] {
        let bundle = p.bundle(&fixture(name), id, "1.0.0", sections, &key);
        p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    }
    p
}

async fn stdio_client(p: &Pincer, handler: TestClient) -> Client {
    let mut command = tokio::process::Command::from(p.command(&["mcp"]));
    command.stderr(Stdio::null());
    handler
        .serve(TokioChildProcess::new(command).unwrap())
        .await
        .expect("the MCP handshake over stdio")
}

/// `pincer mcp --http 127.0.0.1:0`, its URL and token (read from the 0600 file it
/// writes), killed on drop.
struct HttpServer {
    child: Child,
    url: String,
    token: String,
}

impl HttpServer {
    fn start(p: &Pincer, extra: &[&str]) -> Self {
        let _ = std::fs::remove_file(p.home.path().join("run/mcp-http.json"));
        let mut args = vec!["mcp", "--http", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let (child, url, token) = p.start_server(&args, "run/mcp-http.json");
        HttpServer { child, url, token }
    }

    async fn client(&self, handler: TestClient) -> Client {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.url.as_str())
                .auth_header(self.token.clone()),
        );
        handler
            .serve(transport)
            .await
            .expect("the MCP handshake over HTTP")
    }

    fn authority(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches("/mcp")
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn args(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

async fn call(client: &Client, name: &str, arguments: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("calling {name}: {e}"))
}

/// What every transport must do: list, call, refuse arguments that do not match the
/// schema before the plugin runs, report a fault and go on.
async fn list_call_reject_fault(client: &Client) {
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in ["echo__echo", "boom__explode", "spin__spin", "approve__ask"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let echo = tools.iter().find(|t| t.name == "echo__echo").unwrap();
    assert!(!echo.description.as_deref().unwrap_or("").is_empty());
    assert_eq!(echo.input_schema["type"], "object");

    let ok = call(client, "echo__echo", json!({ "text": "over MCP" })).await;
    assert_eq!(ok.is_error, Some(false), "{ok:?}");
    assert_eq!(text_of(&ok), "over MCP");

    let rejected = call(client, "echo__echo", json!({ "text": 42 })).await;
    assert_eq!(rejected.is_error, Some(true), "{rejected:?}");
    let why = text_of(&rejected);
    assert!(
        why.contains("do not match its input schema") && why.contains("/text"),
        "{why}"
    );

    let fault = call(client, "boom__explode", json!({})).await;
    assert_eq!(fault.is_error, Some(true));
    assert!(text_of(&fault).contains("panicked"), "{fault:?}");

    let again = call(client, "echo__echo", json!({ "text": "still here" })).await;
    assert_eq!(text_of(&again), "still here");

    // The server prepares each call's instance ahead of it; it is still fresh: a
    // global the plugin increments on every call never sees a second call.
    for _ in 0..3 {
        let count = call(client, "echo__count", json!({})).await;
        assert_eq!(text_of(&count), "1", "an instance served two calls");
    }
    // ...and its deadline starts with the call, not when it was prepared: this
    // plugin's instance waited longer than its 4 s timeout before being used.
    call(client, "quick__noop", json!({})).await;
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let late = call(client, "quick__echo", json!({ "text": "on time" })).await;
    assert_eq!(text_of(&late), "on time", "{late:?}");
}

/// A cancelled call stops its plugin: the loop held the plugin's only instance slot,
/// and a call after the cancellation gets it at once instead of waiting 30 s and
/// failing as busy.
async fn cancellation_interrupts_the_plugin(client: &Client) {
    let request = ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        CallToolRequestParams::new("spin__spin"),
    ));
    let handle = client
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    // Over Streamable HTTP the call and its cancellation are two requests; give the
    // first ample time to reach the plugin on a loaded machine (a cancellation that
    // arrives first is ignored, and the next call would find the slot held).
    tokio::time::sleep(Duration::from_secs(2)).await;
    handle.cancel(Some("test".into())).await.unwrap();
    let after = call(client, "spin__noop", json!({})).await;
    assert_eq!(
        after.is_error,
        Some(false),
        "the slot is still held: {after:?}"
    );
    assert_eq!(text_of(&after), "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_over_stdio() {
    let p = served();
    let (handler, _changed) = test_client(None);
    let client = stdio_client(&p, handler).await;
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "pincer");
    list_call_reject_fault(&client).await;
    cancellation_interrupts_the_plugin(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_over_streamable_http() {
    let p = served();
    let server = HttpServer::start(&p, &[]);
    let (handler, _changed) = test_client(None);
    let client = server.client(handler).await;
    list_call_reject_fault(&client).await;
    cancellation_interrupts_the_plugin(&client).await;
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_ask_the_client_user_or_say_why_not() {
    let p = served();
    // A client that supports elicitation: its user's answer decides.
    for (answer, expected) in [
        (true, "approved"),
        (false, "rejected: the user did not approve"),
    ] {
        let (handler, _changed) = test_client(Some(answer));
        let client = stdio_client(&p, handler).await;
        let result = call(&client, "approve__ask", json!({ "action": "report" })).await;
        assert_eq!(text_of(&result), expected);
        client.cancel().await.unwrap();
    }
    // One that does not: rejected, saying why and what an admin can do.
    let (handler, _changed) = test_client(None);
    let server = HttpServer::start(&p, &[]);
    let client = server.client(handler).await;
    let result = call(&client, "approve__ask", json!({ "action": "report" })).await;
    let text = text_of(&result);
    assert!(
        text.starts_with("rejected:")
            && text.contains("does not support elicitation")
            && text.contains("policy.toml"),
        "{text}"
    );
    client.cancel().await.unwrap();
    // Every request and answer is in the audit trail.
    let audit = p.ok(&["audit", "show", "--plugin", "com.example.approve", "--json"]);
    assert_eq!(audit.matches("\"approval-request\"").count(), 3, "{audit}");
}

async fn next_change(changed: &mut mpsc::UnboundedReceiver<()>) {
    tokio::time::timeout(Duration::from_secs(30), changed.recv())
        .await
        .expect("no notifications/tools/list_changed within 30 s")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installing_and_removing_tells_clients_the_tool_list_changed() {
    let p = served();
    let key = p.trusted_key("later");
    let server = HttpServer::start(&p, &[]);
    let (handler, mut http_changed) = test_client(None);
    let http = server.client(handler).await;
    let (handler, mut stdio_changed) = test_client(None);
    let stdio = stdio_client(&p, handler).await;

    let bundle = p.bundle(
        &fixture("well-behaved"),
        "org.example.extra",
        "1.0.0",
        "",
        &key,
    );
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    next_change(&mut http_changed).await;
    next_change(&mut stdio_changed).await;
    for client in [&http, &stdio] {
        let names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.into_owned())
            .collect();
        assert!(names.contains(&"extra__echo".to_owned()), "{names:?}");
        let result = call(client, "extra__echo", json!({ "text": "new" })).await;
        assert_eq!(text_of(&result), "new");
    }

    p.ok(&["remove", "org.example.extra"]);
    next_change(&mut http_changed).await;
    next_change(&mut stdio_changed).await;
    let names: Vec<String> = http
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    assert!(!names.contains(&"extra__echo".to_owned()), "{names:?}");

    // Revoking the publisher's key stops its plugin at once, as every load would.
    let bundle = p.bundle(
        &fixture("well-behaved"),
        "org.example.extra",
        "1.0.1",
        "",
        &key,
    );
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    next_change(&mut http_changed).await;
    let keys: Value = serde_json::from_str(&p.ok(&["trust", "list", "--json"])).unwrap();
    let later = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "later")
        .unwrap();
    p.ok(&["trust", "revoke", later["key_id"].as_str().unwrap()]);
    next_change(&mut http_changed).await;
    let revoked = http
        .call_tool(
            CallToolRequestParams::new("extra__echo").with_arguments(args(json!({ "text": "x" }))),
        )
        .await;
    assert!(
        revoked.is_err(),
        "a revoked publisher's tool still ran: {revoked:?}"
    );

    // An admin's new alias renames the tools for running servers too.
    p.ok(&["alias", "com.example.echo", "say"]);
    next_change(&mut http_changed).await;
    let result = call(&http, "say__echo", json!({ "text": "renamed" })).await;
    assert_eq!(text_of(&result), "renamed");
    http.cancel().await.unwrap();
    stdio.cancel().await.unwrap();
}

#[test]
fn colliding_prefixes_are_refused_at_install_time() {
    let p = served();
    let key = p.trusted_key("other");
    // `org.other.echo` would also be served as `echo__…`.
    let bundle = p.bundle(
        &fixture("well-behaved"),
        "org.other.echo",
        "1.0.0",
        "",
        &key,
    );
    let refused = p.fails(3, &["install", bundle.to_str().unwrap(), "--yes"]);
    assert!(
        refused.contains("com.example.echo already uses") && refused.contains("--alias NAME"),
        "{refused}"
    );
    assert!(!p.ok(&["list"]).contains("org.other.echo"));
    let bad = p.fails(
        3,
        &[
            "install",
            bundle.to_str().unwrap(),
            "--yes",
            "--alias",
            "my_echo",
        ],
    );
    assert!(bad.contains("not a valid alias"), "{bad}");
    p.ok(&[
        "install",
        bundle.to_str().unwrap(),
        "--yes",
        "--alias",
        "echo2",
    ]);
    // Renaming onto a taken prefix is refused as well; the default comes back with --reset.
    let taken = p.fails(3, &["alias", "org.other.echo", "boom"]);
    assert!(taken.contains("com.example.boom already uses"), "{taken}");
    p.ok(&["alias", "com.example.echo", "--none"]);
    let second = p.fails(3, &["alias", "org.other.echo", "--none"]);
    assert!(second.contains("only one plugin can"), "{second}");
    p.ok(&["alias", "com.example.echo", "--reset"]);
    let audit = p.ok(&["audit", "show", "--json"]);
    assert!(audit.contains("\"alias-set\""), "{audit}");
}

fn status(url: &str, headers: &[(&str, String)], body: &Value) -> (u16, String) {
    let client = reqwest::blocking::Client::new();
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    let response = request.send().unwrap();
    let code = response.status().as_u16();
    (code, response.text().unwrap_or_default())
}

#[test]
fn http_endpoint_refuses_missing_token_foreign_host_and_origin() {
    let p = served();
    let server = HttpServer::start(&p, &["--allow-origin", "http://localhost:5173"]);
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "raw", "version": "1" } }
    });
    let bearer = ("authorization", format!("Bearer {}", server.token));

    let (code, body) = status(&server.url, &[], &init);
    assert_eq!((code, body.as_str()), (401, ""), "no token: no detail");
    let wrong = ("authorization", format!("Bearer {}x", server.token));
    assert_eq!(status(&server.url, &[wrong], &init).0, 401);
    let foreign_host = ("host", "evil.example".to_owned());
    assert_eq!(
        status(&server.url, &[bearer.clone(), foreign_host], &init).0,
        403
    );
    let port = server.authority().rsplit(':').next().unwrap().to_owned();
    let rebinding = ("host", format!("attacker.example:{port}"));
    assert_eq!(
        status(&server.url, &[bearer.clone(), rebinding], &init).0,
        403
    );
    let page = ("origin", "https://evil.example".to_owned());
    assert_eq!(status(&server.url, &[bearer.clone(), page], &init).0, 403);

    // The allowed origin and the server's own pass, and the session gets an id.
    for origin in [
        "http://localhost:5173".to_owned(),
        format!("http://{}", server.authority()),
    ] {
        let response = reqwest::blocking::Client::new()
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("origin", origin.as_str())
            .header(bearer.0, bearer.1.as_str())
            .body(init.to_string())
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{origin}");
        assert!(response.headers().contains_key("mcp-session-id"));
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            origin.as_str()
        );
    }

    // A browser's preflight: allowed for the allowed origin (no token needed), and
    // refused for any other.
    let preflight = |origin: &str| {
        reqwest::blocking::Client::new()
            .request(reqwest::Method::OPTIONS, &server.url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .unwrap()
    };
    let allowed = preflight("http://localhost:5173");
    assert_eq!(allowed.status().as_u16(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(
        allowed.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let refused = preflight("https://evil.example");
    assert_eq!(refused.status().as_u16(), 403);
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );

    // `server/discover` without the 2026-07-28 request metadata: 400 and invalid
    // params, at once, as that revision says.
    let probe = json!({ "jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {} });
    let (code, body) = status(&server.url, std::slice::from_ref(&bearer), &probe);
    assert_eq!(code, 400, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], -32602, "{body}");

    // The token file is the admin's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.home.path().join("run/mcp-http.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn http_binds_loopback_only() {
    let p = served();
    let out = p.fails(1, &["mcp", "--http", "0.0.0.0:0"]);
    assert!(
        out.contains("loopback only") && out.contains("127.0.0.1:PORT"),
        "{out}"
    );
}

/// The SSE events read from `reader` until `until` holds for one's data (or the
/// stream ends): each event's `id` and `data`.
fn sse_events(
    reader: impl std::io::Read,
    until: impl Fn(&str) -> bool,
) -> Vec<(Option<String>, String)> {
    use std::io::BufRead;
    let mut events = Vec::new();
    let (mut id, mut data) = (None, String::new());
    for line in std::io::BufReader::new(reader).lines() {
        let Ok(line) = line else { break };
        if line.is_empty() {
            let done = until(&data);
            events.push((id.take(), std::mem::take(&mut data)));
            if done {
                break;
            }
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    events
}

#[test]
fn a_2025_http_client_whose_stream_drops_mid_call_resumes_it_with_last_event_id() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.reference_bundle("conformance", &key, |t| t.to_owned());
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    let server = HttpServer::start(&p, &[]);
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let post = |body: Value, session: Option<&str>| {
        let mut request = client
            .post(&server.url)
            .bearer_auth(&server.token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send().unwrap()
    };
    let init = post(
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": { "protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": { "name": "raw", "version": "1" } } }),
        None,
    );
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    drop(init);
    let initialized = post(
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        Some(&session),
    );
    assert_eq!(initialized.status().as_u16(), 202);

    // A two-second call: the client reads the stream's first event (the priming one,
    // with an id and no data) and then its connection drops.
    let call = post(
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": { "name": "conformance__slow_compute", "arguments": { "seconds": 2 } } }),
        Some(&session),
    );
    assert_eq!(call.status().as_u16(), 200);
    let first = sse_events(call, |_| true);
    let (Some(last_id), data) = &first[0] else {
        panic!("no event id: {first:?}")
    };
    assert!(data.is_empty(), "{first:?}");

    // It comes back with the id it last saw and gets the call's result.
    let resumed = client
        .get(&server.url)
        .bearer_auth(&server.token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", last_id)
        .send()
        .unwrap();
    assert_eq!(resumed.status().as_u16(), 200);
    let events = sse_events(resumed, |d| d.contains("\"id\":2"));
    let answer = events
        .iter()
        .find_map(|(_, d)| {
            serde_json::from_str::<Value>(d)
                .ok()
                .filter(|m| m["id"] == 2)
        })
        .unwrap_or_else(|| panic!("no answer after resuming: {events:?}"));
    assert_eq!(
        answer["result"]["content"][0]["text"], "Computed for 2 s",
        "{answer}"
    );
}
