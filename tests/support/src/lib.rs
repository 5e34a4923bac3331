//! Helpers for Pincer's tests and benchmarks: where the built guests are, and a
//! scratch plugin directory with a manifest next to its component.
//!
//! The guests (fixtures and reference plugins) are built by this crate's build script,
//! once per test run.

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The directory holding every built guest component (`<name>.wasm`).
pub fn guests_dir() -> PathBuf {
    PathBuf::from(env!("PINCER_GUESTS_DIR"))
}

/// The repository's root.
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("PINCER_REPO_DIR"))
}

/// The built component of the fixture `name` (its directory under `tests/fixtures`).
pub fn fixture(name: &str) -> PathBuf {
    let path = guests_dir().join(format!("fixture_{}.wasm", name.replace('-', "_")));
    assert!(
        path.exists(),
        "fixture {name} was not built: {}",
        path.display()
    );
    path
}

/// The built component of the reference plugin `name` (its crate under `plugins/`).
pub fn plugin(name: &str) -> PathBuf {
    let path = guests_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.exists(),
        "plugin {name} was not built: {}",
        path.display()
    );
    path
}

/// A temporary plugin directory: `component.wasm` (a copy of `component`) and a
/// `manifest.toml` built from `id`, `kind` and the extra TOML `sections`.
pub struct ScratchPlugin {
    /// The directory; removed on drop.
    pub dir: tempfile::TempDir,
}

impl ScratchPlugin {
    /// Write a plugin directory for `component` with a manifest whose `[plugin]` id is
    /// `id` and whose other sections (capabilities, limits) are `sections`.
    pub fn new(component: &Path, id: &str, sections: &str) -> Self {
        Self::versioned(component, id, "1.0.0", sections)
    }

    /// Like [`new`](Self::new), with the plugin version `version`.
    pub fn versioned(component: &Path, id: &str, version: &str, sections: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::copy(component, dir.path().join("component.wasm")).expect("copying the component");
        let manifest = format!(
            r#"manifest_version = 1

[plugin]
id = "{id}"
name = "Test plugin"
version = "{version}"
kind = "mcp-server"
description = "A test fixture."
publisher = "Pincer tests"

[component]
file = "component.wasm"

{sections}
"#
        );
        std::fs::write(dir.path().join("manifest.toml"), manifest).expect("writing the manifest");
        ScratchPlugin { dir }
    }

    /// The manifest's path.
    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("manifest.toml")
    }
}

/// The `pincer` binary on a temporary home, with a scratch directory for keys and
/// bundles: the end-to-end tests' way to act as an author and an admin.
pub struct Pincer {
    bin: PathBuf,
    /// `$PINCER_HOME`.
    pub home: tempfile::TempDir,
    /// Keys and bundles.
    pub work: tempfile::TempDir,
}

impl Pincer {
    /// A fresh home for the binary at `bin` (pass `env!("CARGO_BIN_EXE_pincer")`).
    pub fn new(bin: &str) -> Self {
        Pincer {
            bin: PathBuf::from(bin),
            home: tempfile::tempdir().expect("a temporary home"),
            work: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The command, with `--home` set and no terminal on stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--home")
            .arg(self.home.path())
            .args(args)
            .env_remove("PINCER_LOG")
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Start `pincer ARGS`, a server that writes its URL and token to `token_file`
    /// (relative to the home) once it listens; returns the child (quiet: no output)
    /// with the URL and token.
    pub fn start_server(
        &self,
        args: &[&str],
        token_file: &str,
    ) -> (std::process::Child, String, String) {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting pincer");
        let (url, token) = server_started(self.home.path(), token_file, &mut child);
        (child, url, token)
    }

    /// Run `pincer ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running pincer")
    }

    /// Run `pincer ARGS`, which must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "pincer {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `pincer ARGS`, which must fail with exit code `code`; returns its stderr.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "pincer {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Call `tool` of the installed plugin `id` with `args` (JSON); returns (is the
    /// tool's result an error, its text). Any other outcome (a fault, a refusal) fails
    /// the test.
    pub fn call(&self, id: &str, tool: &str, args: &str) -> (bool, String) {
        let out = self.run(&["call", id, tool, "--args", args]);
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        match out.status.code() {
            Some(0) => (false, text),
            Some(5) => (true, text),
            other => panic!(
                "pincer call {id} {tool}: exit {other:?}\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// `pincer secrets set ID NAME`, the value on standard input.
    pub fn set_secret(&self, id: &str, name: &str, value: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .command(&["secrets", "set", id, name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running pincer");
        // Pincer may refuse the arguments before reading: a closed pipe is not an error.
        let _ = child
            .stdin
            .take()
            .expect("a piped stdin")
            .write_all(format!("{value}\n").as_bytes());
        child.wait_with_output().expect("running pincer")
    }

    /// Pack the reference plugin `name` from its manifest in `manifests/`, after
    /// `edit` changed the manifest's text (the identity, to leave it as it is), signed
    /// with `key`.
    pub fn reference_bundle(
        &self,
        name: &str,
        key: &Path,
        edit: impl Fn(&str) -> String,
    ) -> PathBuf {
        let text = std::fs::read_to_string(repo_dir().join(format!("manifests/{name}.toml")))
            .expect("reading a reference manifest");
        let manifest = self.path(&format!("{name}-{:08x}.toml", rand_suffix()));
        std::fs::write(&manifest, edit(&text)).expect("writing the manifest");
        let out = self.path(&format!("{name}-bundle-{:08x}", rand_suffix()));
        let args = pack_args(&manifest, Some(&plugin(name)), key, &out);
        self.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        out
    }

    /// Pack the manifest at `manifest` with the built `component`, signed with `key`,
    /// into a bundle in the scratch directory.
    pub fn pack(&self, manifest: &Path, component: &Path, key: &Path) -> PathBuf {
        let out = self.path(&format!("bundle-{:08x}", rand_suffix()));
        let args = pack_args(manifest, Some(component), key, &out);
        self.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        out
    }

    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Make an unencrypted key pair `NAME.key`, `NAME.pub` with `pincer keygen`.
    pub fn keygen(&self, name: &str) -> (PathBuf, PathBuf) {
        let prefix = self.path(name);
        self.ok(&["keygen", "--unencrypted", "--out", prefix.to_str().unwrap()]);
        (
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.pub")),
        )
    }

    /// Make a key and trust it as `name`; returns the secret key.
    pub fn trusted_key(&self, name: &str) -> PathBuf {
        let (key, public) = self.keygen(name);
        self.ok(&["trust", "add", public.to_str().unwrap(), "--name", name]);
        key
    }

    /// Try to pack `component` as plugin `id` with manifest `sections` that `pincer pack`
    /// must refuse (exit 3); returns what it printed on stderr.
    pub fn pack_refused(&self, component: &Path, id: &str, sections: &str, key: &Path) -> String {
        let scratch = ScratchPlugin::new(component, id, sections);
        let out = self.path(&format!("refused-{:08x}", rand_suffix()));
        let args = pack_args(&scratch.manifest(), None, key, &out);
        self.fails(3, &args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Pack `component` as plugin `id` at `version` with extra manifest `sections`,
    /// signed with `key`, into a bundle in the scratch directory.
    pub fn bundle(
        &self,
        component: &Path,
        id: &str,
        version: &str,
        sections: &str,
        key: &Path,
    ) -> PathBuf {
        let scratch = ScratchPlugin::versioned(component, id, version, sections);
        let out = self.path(&format!("{id}-{version}-{:08x}", rand_suffix()));
        let args = pack_args(&scratch.manifest(), None, key, &out);
        self.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        out
    }
}

/// `pincer pack MANIFEST [--component C] --key KEY --out OUT`.
fn pack_args(manifest: &Path, component: Option<&Path>, key: &Path, out: &Path) -> Vec<String> {
    let s = |p: &Path| p.to_str().expect("UTF-8 test paths").to_owned();
    let mut args = vec!["pack".to_owned(), s(manifest)];
    if let Some(component) = component {
        args.extend(["--component".to_owned(), s(component)]);
    }
    args.extend(["--key".to_owned(), s(key), "--out".to_owned(), s(out)]);
    args
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Wait (at most 60 s) for the `pincer mcp --http` server `child`, running on `home`,
/// to write its URL and token to `run/mcp-http.json`; returns them. Kills the child
/// and fails if it exits or does not start in time.
pub fn mcp_http_started(home: &Path, child: &mut std::process::Child) -> (String, String) {
    server_started(home, "run/mcp-http.json", child)
}

/// Wait (at most 60 s) for a server `child` running on `home` to write its URL and
/// token to `file` (relative to `home`); returns them. Kills the child and fails if it
/// exits or does not start in time.
pub fn server_started(
    home: &Path,
    file: &str,
    child: &mut std::process::Child,
) -> (String, String) {
    let token_file = home.join(file);
    let started = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&token_file)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && let (Some(url), Some(token)) = (v["url"].as_str(), v["token"].as_str())
        {
            return (url.to_owned(), token.to_owned());
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited early ({status}) before writing {file}");
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server did not write {file} within 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `pincer mcp` on stdio, spoken to one JSON-RPC line at a time (initialized with
/// protocol 2025-06-18); it ends when dropped (its stdin closes) and is waited for.
pub struct McpStdio {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    id: u64,
}

impl McpStdio {
    /// Start `pincer mcp` on `p`'s home and initialize it.
    pub fn start(p: &Pincer) -> Self {
        let mut server = Self::spawn(p);
        server.request(
            "initialize",
            serde_json::json!({ "protocolVersion": "2025-06-18", "capabilities": {},
                                "clientInfo": { "name": "pincer-tests", "version": "1" } }),
        );
        server
    }

    /// Start `pincer mcp` on `p`'s home without a handshake (a 2026-07-28 client
    /// sends none).
    pub fn spawn(p: &Pincer) -> Self {
        use std::io::BufRead;
        let mut child = p
            .command(&["mcp"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting pincer mcp");
        McpStdio {
            stdin: child.stdin.take(),
            lines: std::io::BufReader::new(child.stdout.take().expect("a piped stdout")).lines(),
            child,
            id: 0,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send request `method` with `params`; its answer (skipping notifications).
    pub fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.send(method, params);
        self.until(id).pop().expect("at least the answer")
    }

    /// Send request `method` with `params` without waiting for its answer; its id.
    pub fn send(&mut self, method: &str, params: serde_json::Value) -> u64 {
        use std::io::Write;
        let line = self.request_line(method, params);
        let stdin = self.stdin.as_mut().expect("open until dropped");
        writeln!(stdin, "{line}").expect("writing to pincer mcp");
        self.id
    }

    /// Request `method` with `params` as a JSON-RPC line, under the next id.
    fn request_line(&mut self, method: &str, params: serde_json::Value) -> String {
        self.id += 1;
        serde_json::json!({ "jsonrpc": "2.0", "id": self.id, "method": method, "params": params })
            .to_string()
    }

    /// Every message read up to and including the answer to request `id`.
    pub fn until(&mut self, id: u64) -> Vec<serde_json::Value> {
        let mut seen = Vec::new();
        loop {
            let message = self.next_message();
            let done = message["id"] == id;
            seen.push(message);
            if done {
                return seen;
            }
        }
    }

    /// Send a request `method` for each of `params` at once, as a client that does
    /// not wait for answers does, and return the answers in the order sent. The lines
    /// are written from another thread, so that neither side can fill its pipe while
    /// the other waits on it.
    pub fn pipelined(
        &mut self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Vec<serde_json::Value> {
        use std::io::Write;
        let first = self.id + 1;
        let lines: Vec<String> = params
            .into_iter()
            .map(|params| self.request_line(method, params))
            .collect();
        let count = lines.len();
        let mut stdin = self.stdin.take().expect("open until dropped");
        let writer = std::thread::spawn(move || {
            for line in lines {
                writeln!(stdin, "{line}").expect("writing to pincer mcp");
            }
            stdin
        });
        let mut answers = std::collections::BTreeMap::new();
        while answers.len() < count {
            let message = self.next_message();
            if let Some(id) = message["id"].as_u64().filter(|id| *id >= first) {
                answers.insert(id, message);
            }
        }
        self.stdin = Some(writer.join().expect("the writer thread"));
        answers.into_values().collect()
    }

    /// The next message the server writes.
    fn next_message(&mut self) -> serde_json::Value {
        let line = self
            .lines
            .next()
            .expect("pincer mcp ended")
            .expect("reading pincer mcp");
        serde_json::from_str(&line).expect("pincer mcp writes JSON lines")
    }

    /// The result of calling the tool `name` with `args`.
    pub fn call(&mut self, name: &str, args: serde_json::Value) -> serde_json::Value {
        self.request(
            "tools/call",
            serde_json::json!({ "name": name, "arguments": args }),
        )["result"]
            .clone()
    }
}

impl Drop for McpStdio {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
