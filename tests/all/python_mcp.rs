//! `pincer mcp` used by the official MCP Python SDK (`mcp` 2.3.0), the way a Python
//! host application would: its high-level `Client`, pinned to protocol 2026-07-28 and
//! in its default auto mode (probe `server/discover`, fall back to the handshake), over
//! stdio and over Streamable HTTP. Each run lists the tools, calls one, and answers an
//! approval question yes and then no: for 2026-07-28 through multi round-trip requests.
//! The driver is `tests/python/mcp_client.py`; the SDK is installed with pip into
//! `target/py-mcp-venv` on first use and reused.

use std::path::PathBuf;
use std::process::Command;

use pincer_test_support::{Pincer, repo_dir};
use serde_json::Value;

/// The SDK release the test installs.
const MCP_SDK: &str = "2.3.0";

/// Python with the SDK installed, in `target/py-mcp-venv`: made once per test run,
/// whichever test asks first (the others wait for it).
fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install).clone()
}

fn install() -> PathBuf {
    let venv = repo_dir().join("target/py-mcp-venv");
    let python = venv.join("bin/python");
    let has_sdk = || {
        Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m; print(m.version('mcp'))",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == MCP_SDK)
    };
    if has_sdk() {
        return python;
    }
    let run = |command: &mut Command| {
        let out = command
            .output()
            .expect("running python3 (scripts/test installs it)");
        assert!(
            out.status.success(),
            "{command:?} failed; scripts/test installs python3 with venv:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("mcp=={MCP_SDK}"),
    ]));
    assert!(
        has_sdk(),
        "mcp {MCP_SDK} did not install into {}",
        venv.display()
    );
    python
}

/// A home serving the approval probe, whose `report` is asked (the policy's default),
/// and an echo: the home of the raw 2026-07-28 tests.
fn served() -> Pincer {
    crate::mcp_2026::served()
}

/// Run the driver with `args`; what it saw.
fn drive(python: &PathBuf, args: &[&str]) -> Value {
    let out = Command::new(python)
        .arg(repo_dir().join("tests/python/mcp_client.py"))
        .args(args)
        .output()
        .expect("running the Python driver");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python SDK failed ({args:?}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn check(seen: &Value, protocol: &str) {
    assert_eq!(seen["protocol"], protocol, "{seen}");
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"approve__ask") && tools.contains(&"echo__echo"),
        "{seen}"
    );
    assert_eq!(seen["echo"], "from python", "{seen}");
    assert_eq!(seen["yes"], "approved", "{seen}");
    assert!(
        seen["no"].as_str().unwrap().starts_with("rejected"),
        "{seen}"
    );
    let questions = seen["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 2, "{seen}");
    assert!(
        questions[0]
            .as_str()
            .unwrap()
            .contains("com.example.approve"),
        "{seen}"
    );
}

#[test]
fn the_python_sdk_speaks_2026_07_28_and_auto_over_stdio() {
    let python = python();
    let p = served();
    let pincer = env!("CARGO_BIN_EXE_pincer");
    let home = p.home.path().to_str().unwrap();
    for mode in ["2026-07-28", "auto"] {
        let seen = drive(&python, &[mode, "stdio", pincer, home]);
        check(&seen, "2026-07-28");
    }
    let audit = std::fs::read_to_string(p.home.path().join("audit/log.jsonl")).unwrap();
    assert_eq!(audit.matches("\"approval-answer\"").count(), 4, "{audit}");
}

#[test]
fn the_python_sdk_speaks_2026_07_28_and_auto_over_http() {
    let python = python();
    let p = served();
    let _ = std::fs::remove_file(p.home.path().join("run/mcp-http.json"));
    let (mut child, url, token) =
        p.start_server(&["mcp", "--http", "127.0.0.1:0"], "run/mcp-http.json");
    for mode in ["2026-07-28", "auto"] {
        let seen = drive(&python, &[mode, "http", &url, &token]);
        check(&seen, "2026-07-28");
    }
    let _ = child.kill();
    let _ = child.wait();
}
