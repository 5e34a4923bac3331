//! Runtime benchmarks: compile vs authenticated cache load, a fresh instance + call of
//! a trivial tool, and a call with a 64 KiB argument. Run with `cargo bench -p pincer
//! --bench runtime`. All figures come from one run on this machine; medians and p99s
//! over many iterations, so one noisy moment does not decide them.
//!
//! A hand-rolled harness instead of criterion: we need p99s and ratios printed from one
//! run, and criterion reports neither.

use std::time::{Duration, Instant};

use pincer::runtime::{CacheOutcome, Runtime};
use pincer::store::Home;
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
}
