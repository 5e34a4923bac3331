//! The `files` plugin against the server it replaces, the official Node
//! `@modelcontextprotocol/server-filesystem`, over stdio in one run; with the floors
//! that say what a round trip costs at all, and `pincer mcp`'s memory and start-up.
//! Run with `cargo bench -p pincer --bench files`.
//!
//! - Round trips of sequential `tools/call`s, after a warm-up, in rounds that take the
//!   servers in turn: `read_text_file` of a 20-line file, `list_directory` and
//!   `search_files` on a tree of 300 files, against the Node server on the same files.
//! - A fresh instance of a large component against a small one:
//!   `files__list_allowed_directories` (1.7 MB, no file I/O) against
//!   `conformance__test_simple_text`.
//! - A trivial tool (`hello__greet`) against the native floor (this binary re-run as a
//!   server that answers each line at once), placed by the scheduler and with client
//!   and server pinned to different CPUs.
//! - `pincer mcp`'s resident memory when idle with four plugins (hello, files, fetch,
//!   conformance) and with one more, and the time from its start to its answer to the
//!   first `tools/list` with the compile cache warm.
//!
//! The Node server is installed from npm at the version pinned in
//! `host/benches/node/package-lock.json` into `target/bench-node`, once; without `npm`
//! (or `node`) the comparison is skipped with a message and the rest runs.
//!
//! Environment: `PINCER_BENCH_CALLS` (default 3000, per server and tool).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pincer_test_support::{plugin, repo_dir};
use serde_json::{Value, json};
use support::{
    Admin, FLOOR_STDIO, Stats, StdioClient, calls_from_env, floor_stdio, interleaved, pin_to_cpu,
    unpin,
};

fn main() {
    if std::env::var_os(FLOOR_STDIO).is_some() {
        return floor_stdio();
    }
    let calls = calls_from_env(3000);
    let work = tempfile::tempdir().unwrap();
    let workspace = work.path().join("workspace");
    make_workspace(&workspace);
    let home = work.path().join("home");
    let admin = Admin::new(&home);
    for name in ["hello", "files", "fetch", "conformance"] {
        admin.install(name, None);
    }
    admin.run(&["root", "bind", "workspace", workspace.to_str().unwrap()]);
    let bin = env!("CARGO_BIN_EXE_pincer");
    let spawn_with = |extra: &[&str]| {
        let mut pincer = StdioClient::spawn(
            Command::new(bin)
                .arg("--home")
                .arg(&home)
                .arg("mcp")
                .args(extra),
        );
        pincer.initialize();
        pincer
    };
    let spawn_pincer = || spawn_with(&[]);
    println!(
        "pincer mcp over stdio, {calls} sequential calls per server and tool, median and p99 of the round trip\n"
    );

    // 1. files against the Node server.
    let node = node_server(&workspace);
    let mut pincer = spawn_pincer();
    match node {
        Err(why) => println!("the Node filesystem server is skipped: {why}\n"),
        Ok(mut node) => {
            node.initialize();
            println!(
                "files: Pincer's plugin against @modelcontextprotocol/server-filesystem {NODE_SERVER_VERSION} (node {})",
                node_version()
            );
            for (tool, args) in [
                ("read_text_file", json!({ "path": "note.txt" })),
                ("list_directory", json!({ "path": "tree/dir-03" })),
                (
                    "search_files",
                    json!({ "path": "tree", "pattern": "**/*-07*.md" }),
                ),
            ] {
                let node_args = absolute(&workspace, &args);
                let node_call = call_line(tool, &node_args);
                let pincer_call = call_line(&format!("files__{tool}"), &args);
                same_answer(&mut node, &node_call, &mut pincer, &pincer_call);
                let [n, p] = interleaved(
                    [&mut node, &mut pincer],
                    calls,
                    [&|_: u64| node_call.clone(), &|_: u64| pincer_call.clone()],
                );
                row(&format!("  node   {tool}"), &n);
                row(&format!("  pincer files__{tool}"), &p);
                let target = if tool == "read_text_file" {
                    " (targets: median <= 0.33x, p99 <= 1x)"
                } else {
                    ""
                };
                println!(
                    "  pincer / node: median {:.2}x, p99 {:.2}x{target}\n",
                    ratio(p.median, n.median),
                    ratio(p.p99, n.p99)
                );
            }
        }
    }

    // 2. A large component's fresh instance against a small one's.
    let large = call_line("files__list_allowed_directories", &json!({}));
    let small = call_line("conformance__test_simple_text", &json!({}));
    let mut other = spawn_pincer();
    let [l, s] = interleaved(
        [&mut pincer, &mut other],
        calls,
        [&|_: u64| large.clone(), &|_: u64| small.clone()],
    );
    println!("instances: a fresh one per call, large component against small");
    row("  files__list_allowed_directories (files.wasm)", &l);
    row("  conformance__test_simple_text (conformance.wasm)", &s);
    println!(
        "  large / small median {:.2}x (target <= 1.5x); files.wasm {} KB, conformance.wasm {} KB\n",
        ratio(l.median, s.median),
        std::fs::metadata(plugin("files")).unwrap().len() / 1024,
        std::fs::metadata(plugin("conformance")).unwrap().len() / 1024,
    );
    drop(other);

    // 3. A trivial tool against the native floor.
    let me = std::env::current_exe().unwrap();
    let greet_line = call_line("hello__greet", &json!({ "name": "bench" }));
    let greet = |_: u64| greet_line.clone();
    let mut floor = StdioClient::spawn(Command::new(&me).env(FLOOR_STDIO, "1"));
    // Busy-polling keeps the server on a CPU of its own; without it the scheduler may
    // put the server beside the client, as it does the floor.
    let mut no_poll = spawn_with(&["--busy-poll-us", "0"]);
    let [f, g, q] = interleaved(
        [&mut floor, &mut pincer, &mut no_poll],
        calls,
        [&greet, &greet, &greet],
    );
    println!("a trivial tool against the native floor");
    row("  native floor, placed by the scheduler", &f);
    row("  hello__greet, placed by the scheduler", &g);
    row("  hello__greet --busy-poll-us 0, placed so", &q);
    println!(
        "  greet / floor median {:.2}x (target <= 2x); with busy-polling off {:.2}x",
        ratio(g.median, f.median),
        ratio(q.median, f.median)
    );
    drop((floor, pincer, no_poll));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus >= 2 {
        // Children inherit the mask: servers on CPU 1, then this client on CPU 0.
        pin_to_cpu(1);
        let mut floor = StdioClient::spawn(Command::new(&me).env(FLOOR_STDIO, "1"));
        let mut pincer = spawn_pincer();
        pin_to_cpu(0);
        let [f, g] = interleaved([&mut floor, &mut pincer], calls, [&greet, &greet]);
        row("  native floor, client CPU 0, server CPU 1", &f);
        row("  hello__greet, client CPU 0, server CPU 1", &g);
        println!(
            "  greet / floor median {:.2}x (target <= 2x)",
            ratio(g.median, f.median)
        );
        unpin(cpus);
    }
    println!();

    // 4. Memory when idle, and start-up.
    let rss_four = idle_rss(&spawn_pincer);
    admin.install("hello", Some("com.example.hello-two"));
    let rss_five = idle_rss(&spawn_pincer);
    println!("memory: pincer mcp idle after tools/list, resident");
    println!(
        "  with 4 plugins (hello, files, fetch, conformance) {:.1} MB (target <= 20 MB)",
        mb(rss_four)
    );
    println!(
        "  with a 5th (hello again, another id)             {:.1} MB: {:+.1} MB for it (target <= 2 MB)\n",
        mb(rss_five),
        mb(rss_five) - mb(rss_four)
    );
    let mut starts = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        let mut pincer = spawn_pincer();
        let list = pincer.request(
            &json!({ "jsonrpc": "2.0", "id": "list", "method": "tools/list" }).to_string(),
        );
        starts.push(t.elapsed());
        assert!(
            list["result"]["tools"]
                .as_array()
                .is_some_and(|t| t.len() > 10),
            "{list}"
        );
    }
    // The first start may fill the compile cache; the rest find it warm.
    let warm = Stats::of(starts[1..].to_vec());
    println!(
        "start-up: spawn to the answer to the first tools/list (5 plugins, warm cache): median {:.1} ms, slowest {:.1} ms (target <= 50 ms)",
        warm.median.as_secs_f64() * 1e3,
        warm.max.as_secs_f64() * 1e3
    );
}

/// The Node server's version, as pinned in `host/benches/node/package.json`.
const NODE_SERVER_VERSION: &str = "2026.8.31";

/// `note.txt` (20 lines) and `tree/`: 10 directories of 30 files each.
fn make_workspace(root: &Path) {
    std::fs::create_dir_all(root.join("tree")).unwrap();
    let note: String = (1..=20)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect();
    std::fs::write(root.join("note.txt"), note).unwrap();
    for d in 0..10 {
        let dir = root.join(format!("tree/dir-{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..30 {
            let ext = if f % 2 == 0 { "md" } else { "txt" };
            std::fs::write(
                dir.join(format!("file-{f:02}.{ext}")),
                format!("file {f}\n"),
            )
            .unwrap();
        }
    }
}

/// `args` with its `path` made absolute in `workspace`, for the Node server (which
/// takes host paths, where the plugin takes paths under `/workspace`).
fn absolute(workspace: &Path, args: &Value) -> Value {
    let mut args = args.clone();
    if let Some(path) = args["path"].as_str() {
        args["path"] = json!(workspace.join(path).to_str().unwrap());
    }
    args
}

fn call_line(tool: &str, args: &Value) -> String {
    json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": tool, "arguments": args } })
    .to_string()
}

/// Both servers answer their call with a result that is not an error, and with the
/// same text up to the paths (the comparison is of the same work).
fn same_answer(
    node: &mut StdioClient,
    node_call: &str,
    pincer: &mut StdioClient,
    pincer_call: &str,
) {
    let text = |answer: &Value| {
        assert!(answer["result"]["isError"] != true, "{answer}");
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("no text in {answer}"))
            .to_owned()
    };
    let n = text(&node.request(node_call));
    let p = text(&pincer.request(pincer_call));
    let lines = |t: &str| t.lines().count();
    assert_eq!(lines(&n), lines(&p), "node:\n{n}\npincer:\n{p}");
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The resident set of a `pincer mcp` that answered `tools/list` and then sat idle
/// for a second.
fn idle_rss(spawn: &dyn Fn() -> StdioClient) -> u64 {
    let mut pincer = spawn();
    pincer.request(&json!({ "jsonrpc": "2.0", "id": "list", "method": "tools/list" }).to_string());
    std::thread::sleep(Duration::from_secs(1));
    let status = std::fs::read_to_string(format!("/proc/{}/status", pincer.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kb * 1024
}

/// The Node filesystem server on `workspace`, installed first if it is not yet.
fn node_server(workspace: &Path) -> Result<StdioClient, String> {
    let node = which("node").ok_or("no `node` on PATH")?;
    let dir = repo_dir().join("target/bench-node");
    let entry = dir.join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    if !entry.exists() {
        let npm = which("npm").ok_or("no `npm` on PATH to install it with")?;
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(
                repo_dir().join("host/benches/node").join(file),
                dir.join(file),
            )
            .map_err(|e| format!("copying {file}: {e}"))?;
        }
        eprintln!(
            "installing @modelcontextprotocol/server-filesystem {NODE_SERVER_VERSION} into {}",
            dir.display()
        );
        let status = Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("`npm ci` in {} failed", dir.display()));
        }
    }
    Ok(StdioClient::spawn(
        Command::new(node).arg(entry).arg(workspace),
    ))
}

fn node_version() -> String {
    Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

fn row(name: &str, s: &Stats) {
    let cpu = s.cpu_per_call.map_or(String::new(), |c| {
        format!("   [server CPU {:.1} µs a call]", c.as_secs_f64() * 1e6)
    });
    println!(
        "{name:<52} median {:>8.1} µs   p99 {:>8.1} µs   (n={}){cpu}",
        s.median.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6,
        s.n,
    );
}
