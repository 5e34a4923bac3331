//! A plugin in a second language: `plugins/python/greet`, written in Python against
//! `pincer:plugin@0.1.0` and built with componentize-py, goes the way a Rust plugin
//! does: build → keygen → pack → trust → install → call. The WIT is the contract, not
//! the Rust SDK.
//!
//! componentize-py is the one on `PATH`, or else the pinned [`COMPONENTIZE_PY`],
//! installed with pip into `target/py-venv` on first use and reused. Where it cannot be
//! installed the test fails, saying how to make it run: it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use pincer_test_support::{Pincer, repo_dir};
use serde_json::{Value, json};

/// The componentize-py release the test installs when none is on `PATH`.
const COMPONENTIZE_PY: &str = "0.25.1";

/// The plugin's id, from its manifest.
const ID: &str = "dev.pincer.python-greet";

/// The first `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// What `componentize-py --version` prints, if it runs.
fn version_of(componentize_py: &Path) -> Option<String> {
    let out = Command::new(componentize_py)
        .arg("--version")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Run `cmd`; its stderr if it fails.
fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// componentize-py [`COMPONENTIZE_PY`] in the virtual environment `target/py-venv`,
/// made with `python3 -m venv` and pip the first time.
fn install_componentize_py() -> Result<PathBuf, String> {
    let venv = repo_dir().join("target/py-venv");
    let bin = venv.join("bin/componentize-py");
    let wanted = format!("componentize-py {COMPONENTIZE_PY}");
    if version_of(&bin).as_deref() == Some(wanted.as_str()) {
        return Ok(bin);
    }
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(venv.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("componentize-py=={COMPONENTIZE_PY}"),
    ]))?;
    match version_of(&bin) {
        Some(found) if found == wanted => Ok(bin),
        found => Err(format!("the installed componentize-py reports {found:?}")),
    }
}

/// componentize-py; a failure saying how to get it when it cannot be had.
fn componentize_py() -> PathBuf {
    let found = on_path("componentize-py").map(Ok);
    match found.unwrap_or_else(install_componentize_py) {
        Ok(bin) => {
            let version = version_of(&bin).unwrap_or_else(|| "no version".into());
            eprintln!("using {} ({version})", bin.display());
            bin
        }
        Err(e) => panic!(
            "componentize-py is not on PATH and could not be installed into target/py-venv \
             ({e}); scripts/test installs python3 with venv, or `pip install \
             componentize-py=={COMPONENTIZE_PY}` makes this test run"
        ),
    }
}

/// Build the plugin with the command in its README, in a copy of its source under
/// `dir` (componentize-py writes `__pycache__` beside the source); the component.
fn build(componentize_py: &Path, dir: &Path) -> PathBuf {
    let source = repo_dir().join("plugins/python/greet");
    std::fs::create_dir(dir.join("wit")).unwrap();
    for file in ["app.py", "wit/greet.wit"] {
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    let started = Instant::now();
    let out = Command::new(componentize_py)
        .arg("-d")
        .arg(repo_dir().join("wit/0.1.0"))
        .args([
            "-d",
            "wit",
            "-w",
            "pincer:plugin/mcp-server@0.1.0",
            "componentize",
        ])
        .args([
            "--intersect-world",
            "example:python-greet/greet",
            "--stub-wasi",
        ])
        .args(["app", "-o", "greet.wasm"])
        .current_dir(dir)
        // An active virtual environment would add its site-packages to the component.
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "componentize-py could not build the plugin:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("built the Python component in {:.1?}", started.elapsed());
    dir.join("greet.wasm")
}

/// Call `tool` with `args`, which must succeed; the result as `--json` prints it.
fn call_json(p: &Pincer, tool: &str, args: &str) -> Value {
    serde_json::from_str(&p.ok(&["call", ID, tool, "--args", args, "--json"])).unwrap()
}

#[test]
fn python_plugin_goes_from_source_to_calls() {
    let componentize_py = componentize_py();
    let build_dir = tempfile::tempdir().unwrap();
    let wasm = build(&componentize_py, build_dir.path());
    let wasm_arg = wasm.to_str().unwrap();
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));

    // The component imports the three interfaces its world names and nothing else
    // (`--stub-wasi` leaves it no WASI import), and exports the mcp-server world.
    let report: Value = serde_json::from_str(&p.ok(&["inspect", "--json", wasm_arg])).unwrap();
    assert_eq!(report["world"], "mcp-server", "{report}");
    let imports: Vec<&str> = report["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        imports,
        [
            "pincer:plugin/log@0.1.0",
            "pincer:plugin/kv@0.1.0",
            "pincer:plugin/config@0.1.0"
        ]
    );

    let key = p.trusted_key("python");
    let manifest = repo_dir().join("plugins/python/greet/manifest.toml");
    let bundle = p.pack(&manifest, &wasm, &key);
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    let tools = p.ok(&["tools", ID]);
    assert!(
        tools.contains("greet") && tools.contains("setting"),
        "{tools}"
    );

    // `greet` uses all three: the greeting word is not set yet (the default), the
    // count is kept in the store, and the plugin's log line shows with -v.
    let out = p.run(&[
        "-v",
        "call",
        ID,
        "greet",
        "--args",
        r#"{"name":"Ada"}"#,
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result,
        json!({
            "content": [{ "type": "text", "text": "Hello, Ada!" }],
            "structured_content": { "greeting": "Hello, Ada!", "times": 1 },
            "is_error": false,
        })
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("greeted Ada (greeting number 1)"), "{log}");

    p.ok(&["config", "set", ID, "greeting", "Bonjour"]);
    let result = call_json(&p, "greet", r#"{"name":"Ada"}"#);
    assert_eq!(
        result["structured_content"],
        json!({ "greeting": "Bonjour, Ada!", "times": 2 })
    );
    let result = call_json(&p, "setting", r#"{"key":"greeting"}"#);
    assert_eq!(result["content"][0]["text"], "greeting = Bonjour");
    assert_eq!(
        result["structured_content"],
        json!({ "key": "greeting", "value": "Bonjour" })
    );

    // A key the manifest does not declare: the host denies it, and the plugin turns
    // the denial into a tool error that names the manifest line to add.
    let (is_error, text) = p.call(ID, "setting", r#"{"key":"colour"}"#);
    assert!(is_error, "{text}");
    assert!(
        text.starts_with("Pincer refused to read the setting `colour` (denied): ")
            && text.contains(r#"add it to the manifest: [capabilities.config] keys = ["colour"]"#),
        "{text}"
    );

    // Arguments it cannot use are a call error; a tool it does not list as approved is
    // refused before it runs.
    let refused = p.fails(5, &["call", ID, "greet", "--args", r#"{"name":""}"#]);
    assert!(
        refused.contains("`name` must be a non-empty string"),
        "{refused}"
    );
    let refused = p.fails(5, &["call", ID, "shout", "--args", "{}"]);
    assert!(
        refused.contains("lists no approved tool `shout`"),
        "{refused}"
    );
}
