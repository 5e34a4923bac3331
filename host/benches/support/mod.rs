//! What the MCP benchmarks share: a JSON-RPC client over a child's stdio, the native
//! floor it is compared with (the bench binary re-run as a server that answers each
//! line at once), round-trip statistics, and pinning to a CPU.

// Each benchmark uses a part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use pincer_test_support::{plugin, repo_dir};
use serde_json::{Value, json};

/// What the floors answer: the shape of a real `tools/call` result.
pub const CANNED: &str = r#"{"content":[{"type":"text","text":"Hello, bench! Greetings from a Wasm sandbox."}],"isError":false}"#;

/// Set in the environment of a bench binary re-run as the stdio floor.
pub const FLOOR_STDIO: &str = "PINCER_BENCH_FLOOR_STDIO";

/// How many calls each measurement makes: `PINCER_BENCH_CALLS`, or `default`; at
/// least 10, so that every round of [`interleaved`] has calls to time.
pub fn calls_from_env(default: usize) -> usize {
    std::env::var("PINCER_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(10)
}

/// The admin of a scratch home: a trusted key, and the reference plugins packed and
/// installed through the CLI.
pub struct Admin {
    home: PathBuf,
}

impl Admin {
    pub fn new(home: &Path) -> Self {
        let admin = Admin {
            home: home.to_owned(),
        };
        let prefix = home.join("bench");
        std::fs::create_dir_all(home).unwrap();
        admin.run(&["keygen", "--unencrypted", "--out", prefix.to_str().unwrap()]);
        admin.run(&[
            "trust",
            "add",
            home.join("bench.pub").to_str().unwrap(),
            "--name",
            "bench",
        ]);
        admin
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_pincer"))
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pincer {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Install the reference plugin `name`, under another `id` if given.
    pub fn install(&self, name: &str, id: Option<&str>) {
        let mut manifest =
            std::fs::read_to_string(repo_dir().join(format!("manifests/{name}.toml"))).unwrap();
        if let Some(id) = id {
            let line = manifest
                .lines()
                .find(|l| l.starts_with("id = "))
                .unwrap()
                .to_owned();
            manifest = manifest.replace(&line, &format!("id = \"{id}\""));
        }
        let path = self.home.join(format!("{}.toml", id.unwrap_or(name)));
        std::fs::write(&path, manifest).unwrap();
        let bundle = self.home.join(format!("{}-bundle", id.unwrap_or(name)));
        self.run(&[
            "pack",
            path.to_str().unwrap(),
            "--component",
            plugin(name).to_str().unwrap(),
            "--key",
            self.home.join("bench.key").to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
        ]);
        let mut args = vec!["install", bundle.to_str().unwrap(), "--yes"];
        if id.is_some() {
            args.extend(["--alias", "hello-two"]);
        }
        self.run(&args);
    }
}

pub struct Stats {
    pub median: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub n: usize,
    /// The server's CPU time (user and system) per call, where measured.
    pub cpu_per_call: Option<Duration>,
}

impl Stats {
    pub fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let n = times.len();
        Stats {
            median: times[n / 2],
            p99: times[(n * 99 / 100).min(n - 1)],
            max: times[n - 1],
            n,
            cpu_per_call: None,
        }
    }
}

/// `calls` sequential calls to each server (each with its own call), in ten rounds
/// that take the servers in turn, after a warm-up of each; with each server's CPU
/// time per call.
pub fn interleaved<const N: usize>(
    mut servers: [&mut StdioClient; N],
    calls: usize,
    lines: [&dyn Fn(u64) -> String; N],
) -> [Stats; N] {
    const ROUNDS: usize = 10;
    for (server, line) in servers.iter_mut().zip(lines) {
        server.timed(calls / 10, line);
    }
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(calls));
    let mut cpu = [Duration::ZERO; N];
    for _ in 0..ROUNDS {
        for (i, server) in servers.iter_mut().enumerate() {
            let before = server.cpu_time();
            times[i].extend(server.timed(calls / ROUNDS, lines[i]));
            cpu[i] += server.cpu_time() - before;
        }
    }
    let mut i = 0;
    times.map(|t| {
        let mut stats = Stats::of(t);
        stats.cpu_per_call = Some(cpu[i] / calls as u32);
        i += 1;
        stats
    })
}

/// Run this thread (and the processes it starts from now on) on `cpu` only.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: the set is a plain bit mask on the stack, sized by its type.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "cannot pin the benchmark to CPU {cpu}"
        );
    }
}

/// Let this thread run on any of the first `cpus` CPUs again.
pub fn unpin(cpus: usize) {
    // SAFETY: as in `pin_to_cpu`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// A line-delimited JSON-RPC client over a child's stdin and stdout.
pub struct StdioClient {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl StdioClient {
    /// The CPU time the server's threads have run so far, from the scheduler's
    /// nanosecond counters (`/proc/PID/task/*/schedstat`).
    pub fn cpu_time(&self) -> Duration {
        let tasks = format!("/proc/{}/task", self.child.id());
        let Ok(entries) = std::fs::read_dir(tasks) else {
            return Duration::ZERO;
        };
        let ns: u64 = entries
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(ns)
    }

    pub fn spawn(command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        StdioClient {
            child,
            stdin,
            stdout,
        }
    }

    pub fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next message that answers a request (notifications, such as a server's log
    /// lines, are skipped).
    pub fn read(&mut self) -> Value {
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the server closed its output"
            );
            let message: Value = serde_json::from_str(&line).unwrap();
            if message.get("id").is_some() {
                return message;
            }
        }
    }

    pub fn request(&mut self, line: &str) -> Value {
        self.send(line);
        self.read()
    }

    pub fn initialize(&mut self) {
        let init = self.request(
            &json!({
                "jsonrpc": "2.0", "id": "init", "method": "initialize",
                "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": { "name": "bench", "version": "1" } }
            })
            .to_string(),
        );
        assert!(init.get("result").is_some(), "{init}");
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    }

    /// The round trips of `n` sequential calls.
    pub fn timed(&mut self, n: usize, call: &dyn Fn(u64) -> String) -> Vec<Duration> {
        (0..n as u64)
            .map(|i| {
                let line = call(i);
                let t = Instant::now();
                let answer = self.request(&line);
                let took = t.elapsed();
                assert!(answer.get("result").is_some(), "{answer}");
                took
            })
            .collect()
    }

    /// Calls per second with `in_flight` requests outstanding.
    pub fn throughput(&mut self, n: usize, in_flight: usize, call: &dyn Fn(u64) -> String) -> f64 {
        let t = Instant::now();
        let mut sent = 0;
        let mut received = 0;
        while received < n {
            while sent < n && sent - received < in_flight {
                let line = call(sent as u64);
                self.stdin.write_all(line.as_bytes()).unwrap();
                self.stdin.write_all(b"\n").unwrap();
                sent += 1;
            }
            self.stdin.flush().unwrap();
            let answer = self.read();
            assert!(answer.get("result").is_some(), "{answer}");
            received += 1;
        }
        n as f64 / t.elapsed().as_secs_f64()
    }
}

impl Drop for StdioClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stdio floor: answer `initialize` as a server would, and every other request
/// at once with [`CANNED`].
pub fn floor_stdio() {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lines() {
        let Ok(line) = line else { break };
        let Ok(request) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = request.get("id") else {
            continue;
        };
        if request["method"] == "initialize" {
            let answer = json!({ "jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": "2025-06-18", "capabilities": { "tools": {} },
                "serverInfo": { "name": "floor", "version": "1" } } });
            writeln!(stdout, "{answer}").unwrap();
        } else {
            writeln!(stdout, r#"{{"jsonrpc":"2.0","id":{id},"result":{CANNED}}}"#).unwrap();
        }
        stdout.flush().unwrap();
    }
}
