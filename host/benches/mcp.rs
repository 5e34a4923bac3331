//! MCP round trips: `pincer mcp` driven from this process (the client) as a child
//! process over stdio, and over Streamable HTTP, against native floors measured in the
//! same run. Run with `cargo bench -p pincer --bench mcp`.
//!
//! - A trivial `tools/call` (hello's `greet`: a fresh plugin instance per call),
//!   10,000 sequential calls: median and p99 of the round trip. Over stdio, the calls
//!   alternate in rounds with the floor's, once with client and server pinned to
//!   different CPUs and once placed by the scheduler.
//! - Throughput with 8 requests in flight.
//! - The floors: this same binary re-run as a minimal native server that answers each
//!   JSON-RPC line at once (stdio), and a minimal axum server that answers each POST at
//!   once (HTTP). The client code is the same for the floor and for Pincer.
//!
//! Environment: `PINCER_BENCH_CALLS` (default 10000); `PINCER_BENCH_ONLY=stdio` skips
//! the HTTP part.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

mod support;

use support::{
    Admin, CANNED, FLOOR_STDIO, Stats, StdioClient, calls_from_env, floor_stdio, interleaved,
    pin_to_cpu, unpin,
};

const FLOOR_HTTP: &str = "PINCER_BENCH_FLOOR_HTTP";

fn main() {
    if std::env::var_os(FLOOR_STDIO).is_some() {
        return floor_stdio();
    }
    if std::env::var_os(FLOOR_HTTP).is_some() {
        return floor_http();
    }
    let calls = calls_from_env(10_000);
    let home = tempfile::tempdir().unwrap();
    Admin::new(home.path()).install("hello", None);
    let bin = env!("CARGO_BIN_EXE_pincer");
    let me = std::env::current_exe().unwrap();
    let call = |id: u64| {
        json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": "hello__greet", "arguments": { "name": "bench" } }
        })
        .to_string()
    };

    println!(
        "MCP round trips of a trivial tools/call, {calls} sequential calls each; 8 in flight for throughput\n"
    );
    // stdio: both servers stay up, and the sequential calls alternate between them in
    // rounds, so that the floor and Pincer meet the same state of a shared machine.
    // First with the client on one CPU and the server on the other (the cross-CPU pipe
    // round trip of a real MCP client, which the target refers to), then wherever the
    // scheduler puts them.
    let spawn_floor = || StdioClient::spawn(Command::new(&me).env(FLOOR_STDIO, "1"));
    let spawn_pincer = |extra: &[&str]| {
        let mut pincer = StdioClient::spawn(
            Command::new(bin)
                .args(["--home"])
                .arg(home.path())
                .arg("mcp")
                .args(extra),
        );
        pincer.initialize();
        let first = pincer.request(&call(0));
        assert_eq!(
            first["result"]["content"][0]["text"], "Hello, bench! Greetings from a Wasm sandbox.",
            "{first}"
        );
        pincer
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus >= 2 {
        // Children inherit the mask: servers on CPU 1, then this client on CPU 0.
        pin_to_cpu(1);
        let mut floor = spawn_floor();
        let mut pincer = spawn_pincer(&[]);
        let mut no_poll = spawn_pincer(&["--busy-poll-us", "0"]);
        pin_to_cpu(0);
        let [floor_seq, pincer_seq, no_poll_seq] = interleaved(
            [&mut floor, &mut pincer, &mut no_poll],
            calls,
            [&call, &call, &call],
        );
        println!(
            "stdio, client on CPU 0 and server on CPU 1 (server CPU time per call in brackets):"
        );
        row(
            "  native floor (answers each line at once)",
            &floor_seq,
            None,
        );
        row("  pincer mcp (fresh instance per call)", &pincer_seq, None);
        row("  pincer mcp --busy-poll-us 0", &no_poll_seq, None);
        println!(
            "  pincer / floor median = {:.2}x (target <= 1.5x); with busy-polling off {:.2}x\n",
            pincer_seq.median.as_secs_f64() / floor_seq.median.as_secs_f64(),
            no_poll_seq.median.as_secs_f64() / floor_seq.median.as_secs_f64(),
        );
        unpin(cpus);
    }
    let mut floor = spawn_floor();
    let mut pincer = spawn_pincer(&[]);
    let [floor_seq, pincer_seq] = interleaved([&mut floor, &mut pincer], calls, [&call, &call]);
    let floor_tput = floor.throughput(calls, 8, &call);
    let pincer_tput = pincer.throughput(calls, 8, &call);
    drop((floor, pincer));
    println!("stdio, placed by the scheduler:");
    row(
        "  native floor (answers each line at once)",
        &floor_seq,
        Some(floor_tput),
    );
    row(
        "  pincer mcp (fresh instance per call)",
        &pincer_seq,
        Some(pincer_tput),
    );
    println!(
        "  pincer / floor median = {:.2}x; throughput {:.0}% of the floor's\n",
        pincer_seq.median.as_secs_f64() / floor_seq.median.as_secs_f64(),
        100.0 * pincer_tput / floor_tput
    );

    if std::env::var("PINCER_BENCH_ONLY").as_deref() == Ok("stdio") {
        return;
    }

    // HTTP
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut floor_child, floor_url) = spawn_floor_http(&me);
    let floor_http = rt.block_on(HttpClient::new(floor_url, None, false));
    let floor_seq = rt.block_on(floor_http.sequential(calls, &call));
    let floor_tput = rt.block_on(floor_http.throughput(calls, 8, &call));
    let _ = floor_child.kill();
    let _ = floor_child.wait();
    let (mut server, url, token) = spawn_pincer_http(bin, home.path());
    let client = rt.block_on(HttpClient::new(url, Some(token), true));
    let pincer_seq = rt.block_on(client.sequential(calls, &call));
    let pincer_tput = rt.block_on(client.throughput(calls, 8, &call));
    let _ = server.kill();
    let _ = server.wait();
    row(
        "http: native floor (axum, answers at once)",
        &floor_seq,
        Some(floor_tput),
    );
    row(
        "http: pincer mcp --http (token, Host checks)",
        &pincer_seq,
        Some(pincer_tput),
    );
    println!(
        "http: pincer / floor median = {:.2}x; throughput {:.0}% of the floor's",
        pincer_seq.median.as_secs_f64() / floor_seq.median.as_secs_f64(),
        100.0 * pincer_tput / floor_tput
    );
}

fn row(name: &str, s: &Stats, per_second: Option<f64>) {
    let throughput = per_second.map_or(String::new(), |t| {
        format!("   {t:>8.0} calls/s with 8 in flight")
    });
    let cpu = s.cpu_per_call.map_or(String::new(), |c| {
        format!("   [{:.1} µs CPU]", c.as_secs_f64() * 1e6)
    });
    println!(
        "{name:<50} median {:>8.1} µs   p99 {:>8.1} µs   (n={}){cpu}{throughput}",
        s.median.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6,
        s.n,
    );
}

/// The HTTP floor: an axum server on 127.0.0.1 answering each POST at once; prints
/// its port.
fn floor_http() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/mcp",
            axum::routing::post(|body: axum::body::Bytes| async move {
                let request: Value = serde_json::from_slice(&body).unwrap_or_default();
                let id = request.get("id").cloned().unwrap_or(Value::Null);
                (
                    [("content-type", "application/json")],
                    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{CANNED}}}"#),
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        axum::serve(listener, app).await.unwrap();
    });
}

fn spawn_floor_http(me: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(me)
        .env(FLOOR_HTTP, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    (child, format!("http://127.0.0.1:{}/mcp", port.trim()))
}

fn spawn_pincer_http(bin: &str, home: &std::path::Path) -> (Child, String, String) {
    let token_file = home.join("run/mcp-http.json");
    let _ = std::fs::remove_file(&token_file);
    let mut child = Command::new(bin)
        .arg("--home")
        .arg(home)
        .args(["mcp", "--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (url, token) = pincer_test_support::mcp_http_started(home, &mut child);
    (child, url, token)
}

/// A Streamable HTTP client: one session, each call a POST whose answer is JSON or an
/// SSE stream carrying the response.
struct HttpClient {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    session: Option<String>,
}

impl HttpClient {
    async fn new(url: String, token: Option<String>, handshake: bool) -> Self {
        let mut client = HttpClient {
            client: reqwest::Client::builder().build().unwrap(),
            url,
            token,
            session: None,
        };
        if handshake {
            let (answer, session) = client
                .post(
                    &json!({
                        "jsonrpc": "2.0", "id": "init", "method": "initialize",
                        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": { "name": "bench", "version": "1" } }
                    })
                    .to_string(),
                )
                .await;
            assert!(answer.get("result").is_some(), "{answer}");
            client.session = session;
            client
                .post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
                .await;
        }
        client
    }

    async fn post(&self, body: &str) -> (Value, Option<String>) {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_owned());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        let response = request.send().await.unwrap();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let sse = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = response.text().await.unwrap();
        let value = if sse {
            text.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v.get("id").is_some())
                .unwrap_or(Value::Null)
        } else if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (value, session)
    }

    async fn sequential(&self, n: usize, call: &dyn Fn(u64) -> String) -> Stats {
        for i in 0..(n / 10) as u64 {
            self.post(&call(i)).await;
        }
        let mut times = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let line = call(i);
            let t = Instant::now();
            let (answer, _) = self.post(&line).await;
            times.push(t.elapsed());
            debug_assert!(answer.get("result").is_some(), "{answer}");
        }
        Stats::of(times)
    }

    async fn throughput(&self, n: usize, in_flight: usize, call: &dyn Fn(u64) -> String) -> f64 {
        let next = Arc::new(AtomicU64::new(0));
        let t = Instant::now();
        let workers = (0..in_flight).map(|_| {
            let next = next.clone();
            async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n as u64 {
                        break;
                    }
                    let (answer, _) = self.post(&call(i)).await;
                    assert!(answer.get("result").is_some(), "{answer}");
                }
            }
        });
        futures_join_all(workers).await;
        n as f64 / t.elapsed().as_secs_f64()
    }
}

/// Run `futures` concurrently on this task and wait for all.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
