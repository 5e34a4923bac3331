//! Gateway round trips: `pincer serve` driven from this process over HTTP/1.1
//! keep-alive connections on 127.0.0.1, against a native floor measured in the same
//! run. Run with `cargo bench -p pincer --bench gateway`.
//!
//! - A cheap authenticated request, `GET /v1/health` with the bearer token: every
//!   request passes the gateway's guard (Host, Origin, token) and its router.
//! - A recorder event, `POST /v1/recordings/events` during a session of the reference
//!   recorder plugin: the guard, the JSON body, the store checks of the gateway's
//!   plugin cache and one call into the session's instance, which appends a line.
//! - The floor: this same binary re-run as a minimal axum server that answers
//!   `GET /v1/health` at once, with no checks.
//!
//! Each is measured sequentially from one client (median and p99 of the round trip;
//! the three alternate in rounds so that they meet the same state of a shared
//! machine), then with 8 concurrent clients, each its own `reqwest::Client` and
//! connection (requests per second, median and p99).
//!
//! Environment: `PINCER_BENCH_REQUESTS` (default 10000 for the health request and
//! the floor, 2000 for events).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pincer_test_support::Pincer;
use serde_json::{Value, json};

const FLOOR_HTTP: &str = "PINCER_BENCH_FLOOR_HTTP";

/// Concurrent clients in the throughput runs.
const CLIENTS: usize = 8;

/// Rounds in which the sequential runs alternate, after a warm-up of each.
const SEQUENTIAL_ROUNDS: usize = 10;

/// Rounds in which the concurrent runs alternate.
const CONCURRENT_ROUNDS: usize = 4;

fn main() {
    if std::env::var_os(FLOOR_HTTP).is_some() {
        return floor_http();
    }
    let requests: Option<usize> = std::env::var("PINCER_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok());
    let health_n = requests.unwrap_or(10_000).max(SEQUENTIAL_ROUNDS);
    let events_n = requests.unwrap_or(2_000).max(SEQUENTIAL_ROUNDS);

    // A home with the reference recorder installed, and the gateway running on it.
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("bench");
    let bundle = p.reference_bundle("recorder", &key, str::to_owned);
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    let (gateway, gateway_url, token) =
        p.start_server(&["serve", "--port", "0"], "run/gateway.json");
    let gateway = Killed(gateway);
    let (floor, floor_url) = spawn_floor_http();
    let floor = Killed(floor);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let health = |name, url: &str| {
        let url = format!("{url}/v1/health");
        let token = token.clone();
        Target::new(name, move |client, _| client.get(&url).bearer_auth(&token))
    };
    let floor_health = health("native floor: GET /v1/health (axum, at once)", &floor_url);
    let gateway_health = health("gateway: GET /v1/health (token checked)", &gateway_url);
    let events_url = format!("{gateway_url}/v1/recordings/events");
    let events_token = token.clone();
    let events = Target::new(
        "gateway: POST /v1/recordings/events (recorder)",
        move |client, i| {
            client
                .post(&events_url)
                .bearer_auth(&events_token)
                .json(&json!({
                    "event": { "kind": "input", "time_ms": i, "target": "#search",
                               "value": "capability security", "sensitive": false,
                               "x": 640, "y": 360 }
                }))
        },
    );

    println!(
        "Gateway round trips on 127.0.0.1 over HTTP/1.1 keep-alive: {health_n} health requests \
         and {events_n} recorder events,\nsequential from one client (alternating in rounds), \
         then the same numbers again from {CLIENTS} concurrent clients\n"
    );
    let started = rt.block_on(gateway_post(&gateway_url, &token, "start", json!({})));
    assert!(started["recording_id"].is_string(), "{started}");

    let seq = rt.block_on(async {
        for target in [&floor_health, &gateway_health] {
            target.sequential(health_n / 10).await;
        }
        events.sequential(events_n / 10).await;
        // Every client's connection open before the concurrent runs.
        for target in [&floor_health, &gateway_health, &events] {
            target.concurrent(CLIENTS * 10).await;
        }
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..SEQUENTIAL_ROUNDS {
            times[0].extend(floor_health.sequential(health_n / SEQUENTIAL_ROUNDS).await);
            times[1].extend(
                gateway_health
                    .sequential(health_n / SEQUENTIAL_ROUNDS)
                    .await,
            );
            times[2].extend(events.sequential(events_n / SEQUENTIAL_ROUNDS).await);
        }
        times.map(Stats::of)
    });
    let conc = rt.block_on(async {
        let mut runs = [
            Concurrent::default(),
            Concurrent::default(),
            Concurrent::default(),
        ];
        for _ in 0..CONCURRENT_ROUNDS {
            runs[0].add(floor_health.concurrent(health_n / CONCURRENT_ROUNDS).await);
            runs[1].add(
                gateway_health
                    .concurrent(health_n / CONCURRENT_ROUNDS)
                    .await,
            );
            runs[2].add(events.concurrent(events_n / CONCURRENT_ROUNDS).await);
        }
        runs
    });

    // Every event reached the session: none was lost or refused.
    let summary = rt.block_on(gateway_post(&gateway_url, &token, "stop", json!({})));
    assert_eq!(
        summary["steps"].as_u64(),
        Some(events.sent.load(Ordering::Relaxed)),
        "{summary}"
    );
    assert_eq!(summary["refused"], 0, "{summary}");
    drop((gateway, floor));

    println!(
        "{:<50}{:>24}{:>36}",
        "",
        "sequential, 1 client",
        format!("{CLIENTS} concurrent clients")
    );
    println!(
        "{:<50}{:>12}{:>12}{:>12}{:>12}{:>12}",
        "", "median µs", "p99 µs", "req/s", "median µs", "p99 µs"
    );
    let targets = [&floor_health, &gateway_health, &events];
    for ((target, s), c) in targets.iter().zip(&seq).zip(&conc) {
        let under_load = Stats::of(c.times.clone());
        println!(
            "{:<50}{:>12.1}{:>12.1}{:>12.0}{:>12.1}{:>12.1}",
            target.name,
            micros(s.median),
            micros(s.p99),
            c.per_second(),
            micros(under_load.median),
            micros(under_load.p99),
        );
    }
    let ratio = |a: &Stats, b: &Stats| a.median.as_secs_f64() / b.median.as_secs_f64();
    println!(
        "\ngateway health / floor: median {:.2}x ({:+.1} µs), {CLIENTS}-client throughput {:.0}% of the floor's; \
         recorder event / gateway health: median {:.2}x, throughput {:.0}%",
        ratio(&seq[1], &seq[0]),
        micros(seq[1].median) - micros(seq[0].median),
        100.0 * conc[1].per_second() / conc[0].per_second(),
        ratio(&seq[2], &seq[1]),
        100.0 * conc[2].per_second() / conc[1].per_second(),
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Stats {
    median: Duration,
    p99: Duration,
}

impl Stats {
    fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let n = times.len();
        Stats {
            median: times[n / 2],
            p99: times[(n * 99 / 100).min(n - 1)],
        }
    }
}

/// What the concurrent runs of one target measured, over all rounds.
#[derive(Default)]
struct Concurrent {
    times: Vec<Duration>,
    elapsed: Duration,
}

impl Concurrent {
    fn add(&mut self, (times, elapsed): (Vec<Duration>, Duration)) {
        self.times.extend(times);
        self.elapsed += elapsed;
    }

    fn per_second(&self) -> f64 {
        self.times.len() as f64 / self.elapsed.as_secs_f64()
    }
}

type MakeRequest = dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync;

/// One kind of request to one server, with a client (and so a kept-alive connection)
/// per concurrent worker; the first also makes the sequential requests.
struct Target {
    name: &'static str,
    clients: Vec<reqwest::Client>,
    request: Arc<MakeRequest>,
    /// Requests sent so far; each request gets the next number.
    sent: Arc<AtomicU64>,
}

impl Target {
    fn new(
        name: &'static str,
        request: impl Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
    ) -> Self {
        let clients = (0..CLIENTS)
            .map(|_| {
                reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap()
            })
            .collect();
        Target {
            name,
            clients,
            request: Arc::new(request),
            sent: Arc::default(),
        }
    }

    /// The round trips of `n` sequential requests from the first client.
    async fn sequential(&self, n: usize) -> Vec<Duration> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(send(&self.clients[0], &*self.request, &self.sent).await);
        }
        times
    }

    /// `n` requests from all clients at once: the round trip of each, and the time
    /// from when all clients were ready to when the last answer came.
    async fn concurrent(&self, n: usize) -> (Vec<Duration>, Duration) {
        let left = Arc::new(AtomicU64::new(n as u64));
        let ready = Arc::new(tokio::sync::Barrier::new(CLIENTS + 1));
        let workers: Vec<_> = self
            .clients
            .iter()
            .map(|client| {
                let (client, request, sent) =
                    (client.clone(), self.request.clone(), self.sent.clone());
                let (left, ready) = (left.clone(), ready.clone());
                tokio::spawn(async move {
                    ready.wait().await;
                    let mut times = Vec::new();
                    while left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1))
                        .is_ok()
                    {
                        times.push(send(&client, &*request, &sent).await);
                    }
                    times
                })
            })
            .collect();
        ready.wait().await;
        let t = Instant::now();
        let mut times = Vec::with_capacity(n);
        for worker in workers {
            times.extend(worker.await.unwrap());
        }
        (times, t.elapsed())
    }
}

/// Send the next request and read its whole answer, which must be a 200; its round
/// trip.
async fn send(client: &reqwest::Client, request: &MakeRequest, sent: &AtomicU64) -> Duration {
    let i = sent.fetch_add(1, Ordering::Relaxed);
    let request = request(client, i);
    let t = Instant::now();
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    let took = t.elapsed();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    took
}

/// `POST /v1/recordings/ACTION` with `body`; its JSON answer, which must be a 200.
async fn gateway_post(url: &str, token: &str, action: &str, body: Value) -> Value {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{url}/v1/recordings/{action}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{action}");
    response.json().await.unwrap()
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The floor: an axum server on 127.0.0.1 answering `GET /v1/health` at once with
/// the gateway's answer; prints its port.
fn floor_http() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/v1/health",
            axum::routing::get(|| async {
                axum::Json(json!({ "ok": true, "version": env!("CARGO_PKG_VERSION") }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        axum::serve(listener, app).await.unwrap();
    });
}

/// This binary re-run as the floor; the child and its base URL.
fn spawn_floor_http() -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
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
    (child, format!("http://127.0.0.1:{}", port.trim()))
}
