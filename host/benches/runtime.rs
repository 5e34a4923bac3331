//! Runtime benchmarks: compile vs authenticated cache load, a fresh instance + call of
//! a trivial tool, a call with a 64 KiB argument, and verifying and loading an
//! installed 2 MB plugin from the warm cache, and a 1 KiB GET from a loopback server
//! through a plugin's `http` capability against the same GET through reqwest directly. Run with `cargo bench -p pincer
//! --bench runtime`. All figures come from one run on this machine; medians and p99s
//! over many iterations, so one noisy moment does not decide them.
//!
//! A hand-rolled harness instead of criterion: we need p99s and ratios printed from one
//! run, and criterion reports neither.

use std::time::{Duration, Instant};

use pincer::runtime::{CacheOutcome, Runtime};
use pincer::store::Home;
use pincer::trust::{self, Bundle, PublisherKey, SigningKey, TrustStore};
use pincer_test_support::{ScratchPlugin, fixture};
use wasmtime::component::Component;

struct Stats {
    median: Duration,
    p99: Duration,
    n: usize,
}

fn measure(n: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..(n / 10).max(1) {
        f();
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    Stats {
        median: times[n / 2],
        p99: times[(n * 99 / 100).min(n - 1)],
        n,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn row(name: &str, s: &Stats) {
    println!(
        "{name:<44} median {:>10.1} µs   p99 {:>10.1} µs   (n={})",
        us(s.median),
        us(s.p99),
        s.n
    );
}

fn main() {
    // `PINCER_BENCH=http` runs only the HTTP comparison.
    if std::env::var("PINCER_BENCH").as_deref() == Ok("http") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        return http_get(&rt);
    }
    let home = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(Home::open_at(home.path()).unwrap()).unwrap();
    let component = fixture("well-behaved");
    let wasm = std::fs::read(&component).unwrap();
    println!(
        "component: well-behaved fixture, {} KiB; pooling allocator: {}",
        wasm.len() / 1024,
        runtime.pooling()
    );

    let compile = measure(10, || {
        Component::new(runtime.engine(), &wasm).unwrap();
    });
    row("compile (cranelift)", &compile);
    let (_, outcome, _) = runtime.component(&wasm).unwrap();
    assert_ne!(outcome, CacheOutcome::Hit);
    let cached = measure(200, || {
        let (_, outcome, _) = runtime.component(&wasm).unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
    });
    row("authenticated cache load (read+HMAC+load)", &cached);
    println!(
        "  -> cache load is {:.0}x faster than compiling (target: at least 50x)",
        compile.median.as_secs_f64() / cached.median.as_secs_f64()
    );

    let scratch = ScratchPlugin::new(&component, "bench.well-behaved", "");
    let plugin = runtime.load_manifest(&scratch.manifest(), None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let noop = measure(10_000, || {
        let out = rt.block_on(plugin.call_tool("noop", "{}")).unwrap();
        assert!(!out.is_error);
    });
    row("fresh instance + call `noop`", &noop);
    println!(
        "  -> median {:.1} µs (target: at or under 50 µs)",
        us(noop.median)
    );

    let text = "x".repeat(64 * 1024);
    let args = serde_json::json!({ "text": text }).to_string();
    let big = measure(2_000, || {
        let out = rt.block_on(plugin.call_tool("echo", &args)).unwrap();
        assert!(!out.is_error);
    });
    row("fresh instance + call `echo` with 64 KiB", &big);

    installed_2mb(&runtime, &wasm, &rt);
    http_get(&rt);
}

/// One GET of 1 KiB from a server on 127.0.0.1: through the http-client fixture (a
/// fresh instance, the grant and address checks, the audit record) and through a plain
/// reqwest client in the host. Both clients keep their connections alive.
fn http_get(rt: &tokio::runtime::Runtime) {
    let server = pincer_test_support::http::TestServer::start();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("policy.toml"),
        "[http.\"bench.http\"]\nallow_private_networks = true\n",
    )
    .unwrap();
    let runtime = Runtime::new(Home::open_at(home.path()).unwrap()).unwrap();
    let grant = format!(
        "[capabilities.http]\norigins = [\"http://127.0.0.1:{}\"]\nprivate_networks = true\n",
        server.port
    );
    let scratch = ScratchPlugin::new(&fixture("http-client"), "bench.http", &grant);
    let plugin = runtime.load_manifest(&scratch.manifest(), None).unwrap();
    let url = server.url("/bytes/1024");
    let args = serde_json::json!({ "url": url }).to_string();
    let client = reqwest::Client::builder().build().unwrap();
    let via_plugin = || {
        let out = rt.block_on(plugin.call_tool("get", &args)).unwrap();
        assert!(!out.is_error, "{out:?}");
    };
    let direct = || {
        let body = rt
            .block_on(async { client.get(&url).send().await?.bytes().await })
            .unwrap();
        assert_eq!(body.len(), 1024);
    };
    if let Ok(only) = std::env::var("PINCER_BENCH_ONLY") {
        let refused_args = serde_json::json!({ "url": "http://127.0.0.1:1/x" }).to_string();
        let refused = || {
            let out = rt.block_on(plugin.call_tool("get", &refused_args)).unwrap();
            assert!(out.is_error);
        };
        let f: &dyn Fn() = match only.as_str() {
            "plugin" => &via_plugin,
            "refused" => &refused,
            _ => &direct,
        };
        for _ in 0..5_000 {
            f();
        }
        return;
    }
    // Interleaved, so both see the same moments of a noisy machine.
    let n = 3_000;
    for _ in 0..n / 10 {
        via_plugin();
        direct();
    }
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut diffs = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        via_plugin();
        a.push(t.elapsed());
        let t = Instant::now();
        direct();
        b.push(t.elapsed());
        diffs.push(a[a.len() - 1].as_secs_f64() - b[b.len() - 1].as_secs_f64());
    }
    diffs.sort_by(f64::total_cmp);
    let paired = diffs[diffs.len() / 2] * 1e6;
    let stats = |mut v: Vec<Duration>| {
        v.sort();
        Stats {
            median: v[v.len() / 2],
            p99: v[v.len() * 99 / 100],
            n: v.len(),
        }
    };
    let (through_plugin, direct) = (stats(a), stats(b));
    row(
        "GET 1 KiB through the plugin's http capability",
        &through_plugin,
    );
    row("GET 1 KiB through reqwest in the host", &direct);
    println!(
        "  (one keep-alive connection each: {} accepted)",
        server.connections()
    );
    let refused_args = serde_json::json!({ "url": "http://127.0.0.1:1/x" }).to_string();
    let refused = measure(2_000, || {
        let out = rt.block_on(plugin.call_tool("get", &refused_args)).unwrap();
        assert!(out.is_error);
    });
    row("the plugin call, refused before any I/O", &refused);
    let bare = measure(2_000, || {
        let out = rt.block_on(plugin.call_tool("nope", "{}"));
        assert!(out.is_err());
    });
    row("the plugin, instance + an unknown tool", &bare);
    let added = through_plugin.median.saturating_sub(direct.median);
    let allowed = (direct.median / 5).max(Duration::from_micros(100));
    println!(
        "  -> the capability adds {:.1} µs between medians ({:.2}x), {paired:.1} µs as the median of paired differences; allowed: {:.1} µs (20% or 100 µs, whichever is larger)",
        us(added),
        through_plugin.median.as_secs_f64() / direct.median.as_secs_f64(),
        us(allowed)
    );
    runtime.audit().flush();
}

/// `wasm` with a custom section appended, to `size` bytes in all.
fn padded(wasm: &[u8], size: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"pincer-bench-padding";
    let payload = size - wasm.len() - 1 - 4 - 1 - name.len();
    let mut out = wasm.to_vec();
    out.push(0); // a custom section
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name);
    body.resize(body.len() + payload, 0x5a);
    // A fixed-width (4-byte) LEB128 size keeps the total exact.
    let len = body.len();
    out.extend_from_slice(&[
        (len & 0x7f) as u8 | 0x80,
        ((len >> 7) & 0x7f) as u8 | 0x80,
        ((len >> 14) & 0x7f) as u8 | 0x80,
        ((len >> 21) & 0x7f) as u8,
    ]);
    out.extend_from_slice(&body);
    assert_eq!(out.len(), size);
    out
}

/// Sign, trust and install a 2 MB plugin, then measure what every load of an installed
/// plugin costs: read the bundle, check the signature (and the trusted comment), hash
/// the component, load the compiled code from the authenticated cache, link, and
/// instantiate it for a call.
fn installed_2mb(runtime: &Runtime, wasm: &[u8], rt: &tokio::runtime::Runtime) {
    let work = tempfile::tempdir().unwrap();
    let big = padded(wasm, 2 << 20);
    let component = work.path().join("big.wasm");
    std::fs::write(&component, &big).unwrap();
    let id = "bench.installed";
    let scratch = ScratchPlugin::new(&component, id, "");
    let (_, sk, pk) = trust::keygen(&work.path().join("bench"), None).unwrap();
    let key = SigningKey::load(&sk, || unreachable!()).unwrap();
    let bundle = work.path().join("bundle");
    trust::pack(&scratch.manifest(), None, &key, &bundle).unwrap();
    let public = PublisherKey::parse(&std::fs::read_to_string(pk).unwrap(), "bench").unwrap();
    let mut store = TrustStore::load(runtime.home()).unwrap();
    store.add(&public, "Bench").unwrap();
    store.save(runtime.home()).unwrap();
    pincer::install::install(runtime, "bench", &bundle, &Default::default(), |_| Ok(true)).unwrap();
    println!(
        "installed plugin: {} bytes (the well-behaved fixture plus a custom section)",
        big.len()
    );

    let trust = TrustStore::load(runtime.home()).unwrap();
    let verify = measure(200, || {
        let b = Bundle::read(&bundle).unwrap();
        b.verify(&trust).unwrap();
    });
    row("read bundle + signature + SHA-256 (2 MB)", &verify);
    let load = measure(200, || {
        let plugin = runtime.load_installed(id).unwrap();
        assert_eq!(plugin.load_report().cache, CacheOutcome::Hit);
    });
    row("load_installed: verify + cache + link", &load);
    let full = measure(200, || {
        let plugin = runtime.load_installed(id).unwrap();
        let out = rt.block_on(plugin.call_tool("noop", "{}")).unwrap();
        assert!(!out.is_error);
    });
    row("load_installed + instantiate + call `noop`", &full);
    println!(
        "  -> verify and load an installed 2 MB plugin: median {:.2} ms (target: at or under 5 ms)",
        full.median.as_secs_f64() * 1e3
    );
}
