//! Development mode as a plugin author uses it: `pincer dev` on a project made by
//! `pincer new` (build, call, rebuild on a change, a failed build, a denial the plugin
//! swallowed) and the denial report of `pincer call --dev`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use pincer_test_support::{Pincer, ScratchPlugin, fixture, repo_dir};

/// Longer than a first build of a scaffolded project on a busy machine.
const PATIENCE: Duration = Duration::from_secs(900);

/// `pincer dev ARGS` for a project that builds like the scaffold test's (same target
/// directory, so their dependencies build once, and no RUSTFLAGS meant for the host).
fn dev(p: &Pincer, args: &[&str]) -> Command {
    let mut cmd = p.command(&[&["dev"], args].concat());
    cmd.env("CARGO", env!("CARGO"))
        .env("CARGO_TARGET_DIR", repo_dir().join("target/scaffold"))
        .env_remove("RUSTFLAGS");
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Replace `from` with `to` in the file at `path`, which must contain it.
fn edit(path: &Path, from: &str, to: &str) {
    let old = std::fs::read_to_string(path).unwrap();
    assert!(old.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, old.replacen(from, to, 1)).unwrap();
}

/// A `pincer dev --watch` running in the background, its output read line by line.
struct Watching {
    child: Child,
    /// Kept open: the end of stdin would stop it.
    _stdin: ChildStdin,
    lines: Receiver<(Stream, String)>,
    seen: Vec<(Stream, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

impl Watching {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting pincer dev --watch");
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        for (stream, pipe) in [
            (Stream::Out, Box::new(out) as Box<dyn std::io::Read + Send>),
            (Stream::Err, Box::new(err)),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send((stream, line));
                }
            });
        }
        Watching {
            _stdin: child.stdin.take().unwrap(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Read until a line of `stream` contains `needle`.
    fn wait_for(&mut self, stream: Stream, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.0 == stream && line.1.contains(needle);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    let _ = self.child.kill();
                    panic!("no {stream:?} line with {needle:?}:\n{}", self.transcript());
                }
            }
        }
    }

    /// Wait for it to stop on its own; its exit code and everything it printed.
    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("pincer dev --watch did not stop:\n{}", self.transcript());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // The readers end with the pipes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(line);
        }
        (status.code(), self.transcript())
    }

    fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|(stream, line)| format!("{stream:?}: {line}\n"))
            .collect()
    }
}

/// `pincer dev --watch --max-runs 2 ARGS`: once it printed `first`, make `change`;
/// then the second run must print `then` and stop by itself. Everything it printed.
fn watch_two_runs(
    p: &Pincer,
    args: &[&str],
    first: (Stream, &str),
    change: impl FnOnce(),
    then: &str,
) -> String {
    let mut watching = Watching::start(dev(p, &[&["--watch", "--max-runs", "2"], args].concat()));
    watching.wait_for(first.0, first.1);
    change();
    watching.wait_for(Stream::Out, then);
    let (code, transcript) = watching.finish();
    assert_eq!(code, Some(0), "{transcript}");
    transcript
}

#[test]
fn dev_builds_calls_rebuilds_on_change_and_shows_swallowed_denials() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let project: PathBuf = p.path("dev-greeter");
    let dir = project.to_str().unwrap();
    p.ok(&["new", "--kind", "mcp-server", "dev-greeter", "--dir", dir]);
    let source = project.join("src/lib.rs");
    let ada = r#"{"name":"Ada"}"#;

    // Build and call: cargo's output and the warning on stderr, the result on stdout.
    let out: Output = dev(&p, &[dir, "greet", ada]).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "Hello, Ada!", "{stderr}");
    assert!(stderr.contains("Finished `release` profile"), "{stderr}");
    assert!(
        stderr.contains("WARNING: development mode") && stderr.contains("NOT signed"),
        "{stderr}"
    );
    assert!(!stderr.contains("denied"), "{stderr}");

    // The same, for machines.
    let out = dev(&p, &["--json", dir, "greet", ada]).output().unwrap();
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["content"][0]["text"], "Hello, Ada!", "{result}");

    // Arguments that are not a JSON object are refused before building.
    let refused = dev(&p, &[dir, "greet", "{not json"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("ARGS_JSON must be a JSON object"));

    // --watch: a change to the source rebuilds and calls again.
    let transcript = watch_two_runs(
        &p,
        &[dir, "greet", ada],
        (Stream::Out, "Hello, Ada!"),
        || edit(&source, "Hello, ", "Hi there, "),
        "Hi there, Ada!",
    );
    assert!(
        transcript.contains("src/lib.rs changed ────"),
        "{transcript}"
    );

    // A denial the plugin swallows is still shown, with the manifest line to add.
    edit(
        &project.join("manifest.toml"),
        "[limits]",
        "[capabilities.secrets]\nnames = [\"api_key\"]\n\n[limits]",
    );
    edit(
        &source,
        "    Ok(format!(",
        "    let _ = pincer_sdk::secrets::get(\"token\");\n    Ok(format!(",
    );
    let out = dev(&p, &[dir, "greet", ada]).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "Hi there, Ada!");
    assert!(
        stderr.contains(
            "denied: secret `token` is not declared; add it to the manifest: [capabilities.secrets] names = [\"token\"]"
        ),
        "{stderr}"
    );

    // A build that fails shows the compiler's errors and says so, and exits with 2.
    edit(&source, "struct Greet {", "struct Greet {{");
    let out = dev(&p, &[dir, "greet", ada]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unclosed delimiter"), "{stderr}");
    assert!(stderr.contains("error: the build failed"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());

    // --watch waits out a failed build; the fix runs.
    watch_two_runs(
        &p,
        &[dir, "greet", ada],
        (Stream::Err, "waiting for a change"),
        || edit(&source, "struct Greet {{", "struct Greet {"),
        "Hi there, Ada!",
    );
}

#[test]
fn dev_refuses_a_directory_that_is_not_a_project() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let stderr = p.fails(2, &["dev", p.work.path().to_str().unwrap(), "greet"]);
    assert!(stderr.contains("has no Cargo.toml"), "{stderr}");
    assert!(stderr.contains("pincer new"), "{stderr}");
}

#[test]
fn call_dev_reports_what_was_denied_after_the_result() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let scratch = ScratchPlugin::new(
        &fixture("config-probe"),
        "dev.pincer.test.config-probe",
        "[capabilities.config]\nkeys = [\"model\"]\n",
    );
    let manifest = scratch.manifest();
    let args = [
        "call",
        "--dev",
        "--manifest",
        manifest.to_str().unwrap(),
        "get",
        "--args",
        r#"{"key":"color"}"#,
    ];
    let out = p.run(&args);
    let stderr = text(&out.stderr);
    // The probe turns the denial into an error result (exit 5); the report follows it.
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    let line = "denied: config key `color` is not declared; add it to the manifest: [capabilities.config] keys = [\"color\"]";
    assert!(stderr.contains(line), "{stderr}");
    let warned = stderr.find("development mode").expect("the warning");
    assert!(warned < stderr.find(line).unwrap(), "{stderr}");

    // Allowed, nothing is reported.
    let out = p.run(&[&args[..6], &[r#"{"key":"model"}"#]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("denied"));
}
