//! Secret redaction, from the attacker's side: the `secret-leaker` fixture reads its
//! secret and writes it into every output the host passes on (tool results, structured
//! content, encoded forms, errors, log lines, stdout and stderr, a panic, an approval
//! request, an HTTP request's URL, a value kept in kv by an earlier call). Through
//! `pincer call` and through `pincer mcp` with a real MCP client, the value never
//! reaches the client, the host's log, the audit trail or the audit file's bytes;
//! `[redacted:token]` stands where it was, and each redaction is audited by name and
//! place.

use std::collections::BTreeSet;
use std::process::{Output, Stdio};

use base64::Engine as _;
use pincer_test_support::{Pincer, fixture};
use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::Value;

const ID: &str = "com.example.leaker";
/// The secret: `:` and `@` stay as they are in a URL's path, but not in its
/// percent-encoded form, so the two forms differ.
const VALUE: &str = "Tok-9f8e7d6c:5b4a@LEAK+7";
/// A run of the value that no redacted text holds: finding it means a part leaked.
const CORE: &str = "9f8e7d6c";
const MARKER: &str = "[redacted:token]";

/// Every tool of the fixture, each one way out.
const TOOLS: [&str; 12] = [
    "result",
    "encoded",
    "log",
    "error-result",
    "invalid-arguments",
    "unknown",
    "panic",
    "ask",
    "fetch",
    "stash",
    "unstash",
    "reversed",
];

/// The forms of the value that must never be seen: itself, part of it, base64 and
/// percent-encoded.
fn forbidden() -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(VALUE);
    vec![
        VALUE.to_owned(),
        CORE.to_owned(),
        b64.trim_end_matches('=').to_owned(),
        "Tok-9f8e7d6c%3A5b4a%40LEAK%2B7".to_owned(),
    ]
}

fn assert_clean(what: &str, text: &str) {
    for form in forbidden() {
        assert!(!text.contains(&form), "{what} shows `{form}`:\n{text}");
    }
}

/// A home with the leaker installed: its secret `token` set, kv, an approval action,
/// and HTTP to one origin that is not where it sends the value.
fn leaker() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.bundle(
        &fixture("secret-leaker"),
        ID,
        "1.0.0",
        "[capabilities.secrets]\nnames = [\"token\"]\n\n\
         [capabilities.kv]\nquota_bytes = 4096\n\n\
         [capabilities.approval]\nactions = [\"send\"]\n\n\
         [capabilities.http]\norigins = [\"https://api.example.com\"]\n",
        &key,
    );
    p.ok(&["install", bundle.to_str().unwrap(), "--yes"]);
    let out = p.set_secret(ID, "token", VALUE);
    assert!(out.status.success(), "{out:?}");
    p
}

/// `pincer ARGS` with the host's log on stderr at `debug` (as `-vv`), and every level
/// of the plugin's.
fn logged(p: &Pincer, args: &[&str]) -> std::process::Command {
    let mut command = p.command(args);
    command.env(
        "PINCER_LOG",
        "debug,plugin=trace,cranelift_codegen=info,wasmtime_cranelift=info",
    );
    command
}

/// `pincer call ID TOOL`, logging as [`logged`] does.
fn call(p: &Pincer, tool: &str) -> Output {
    logged(p, &["call", ID, tool, "--args", "{}"])
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The audit trail, as `pincer audit show --json` prints it, one record a line.
fn audit(p: &Pincer) -> (String, Vec<Value>) {
    let shown = p.ok(&["audit", "show", "--json"]);
    let records = shown
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (shown, records)
}

/// The `where` of each `secret-redacted` record, which must name `token`.
fn redacted_places(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["event"] == "secret-redacted")
        .map(|r| {
            assert_eq!(r["plugin"], ID, "{r}");
            assert_eq!(r["details"]["name"], "token", "{r}");
            r["details"]["where"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Neither the audit trail as shown nor the bytes of its file hold the value.
fn assert_audit_clean(p: &Pincer, shown: &str) {
    assert_clean("`pincer audit show --json`", shown);
    let raw = std::fs::read(p.home.path().join("audit/log.jsonl")).unwrap();
    assert_clean("the audit log file", &text(&raw));
}

#[test]
fn a_plugin_cannot_leak_its_secret_through_pincer_call() {
    let p = leaker();
    let mut everything = String::new();
    let mut outputs = std::collections::BTreeMap::new();
    for tool in TOOLS {
        let out = call(&p, tool);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        if tool != "reversed" {
            assert_clean(&format!("`pincer call {tool}` stdout"), &stdout);
        }
        assert_clean(&format!("`pincer call {tool}` stderr"), &stderr);
        everything.push_str(&stdout);
        everything.push_str(&stderr);
        outputs.insert(tool, (out.status.code(), stdout, stderr));
    }
    let stdout = |tool: &str| outputs[tool].1.clone();
    let stderr = |tool: &str| outputs[tool].2.clone();
    let code = |tool: &str| outputs[tool].0;

    // The plugin did have the value: reversed, it is not recognised (what redaction
    // does not stop), and it leaves the host.
    let reversed: String = VALUE.chars().rev().collect();
    assert_eq!(stdout("reversed").trim(), reversed);

    // The marker stands where the value was.
    let result = stdout("result");
    assert!(
        result.contains(&format!("the token is {MARKER}.")),
        "{result}"
    );
    assert!(
        result.contains(&format!("\"token\": \"{MARKER}\"")),
        "{result}"
    );
    assert!(result.contains(&format!("\"{MARKER}\": [")), "{result}");
    assert!(
        result.contains(&format!("\"escaped {MARKER}\"")),
        "{result}"
    );
    assert_eq!(
        stdout("encoded").trim(),
        format!("base64 {MARKER} percent /{MARKER}/")
    );
    assert_eq!(code("error-result"), Some(5));
    assert_eq!(
        stdout("error-result").trim(),
        format!("failed with {MARKER}")
    );
    let refused = stderr("invalid-arguments");
    assert!(
        refused.contains(&format!("the token {MARKER} is wrong")),
        "{refused}"
    );
    let unknown = stderr("unknown");
    assert!(
        unknown.contains(&format!("no tool `{MARKER}`")),
        "{unknown}"
    );
    let panic = stderr("panic");
    assert!(
        panic.contains(&format!("panicking with {MARKER}")),
        "{panic}"
    );
    let logged = stderr("log");
    for line in [
        "trace", "debug", "info", "warn", "error", "stdout", "stderr",
    ] {
        assert!(
            logged.contains(&format!("{line} {MARKER}")),
            "{line}: {logged}"
        );
    }
    assert!(stdout("ask").starts_with("rejected:"), "{}", stdout("ask"));
    assert!(
        stdout("fetch").starts_with("refused:"),
        "{}",
        stdout("fetch")
    );
    assert_eq!(stdout("stash").trim(), "stashed");
    // This call never reads the secret: the host knows the value from the vault.
    assert_eq!(stdout("unstash").trim(), format!("from kv: {MARKER}"));

    let (shown, records) = audit(&p);
    assert_audit_clean(&p, &shown);
    let approval = records
        .iter()
        .find(|r| r["event"] == "approval-request")
        .expect("an approval-request record");
    assert_eq!(approval["details"]["summary"], format!("send {MARKER}?"));
    let denied = records
        .iter()
        .find(|r| r["event"] == "http-denied")
        .expect("an http-denied record");
    assert_eq!(
        denied["details"]["url"],
        format!("https://exfil.invalid/{MARKER}")
    );
    // Each call audits each place once, however often the value turned up there: the
    // `log` call wrote it five times to the log capability.
    let places = redacted_places(&records);
    let count = |place: &str| places.iter().filter(|w| *w == place).count();
    assert_eq!(
        count("tool-result"),
        3,
        "result, encoded, unstash: {places:?}"
    );
    assert_eq!(
        count("tool-error"),
        3,
        "error-result, invalid-arguments, unknown: {places:?}"
    );
    for place in ["log", "stdout", "approval", "http-audit", "fault"] {
        assert_eq!(count(place), 1, "{place}: {places:?}");
    }
    // The `log` call's stderr, and the panic's.
    assert_eq!(count("stderr"), 2, "{places:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_leak_its_secret_to_an_mcp_client() {
    let p = leaker();
    let log_path = p.path("mcp-stderr.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let command = tokio::process::Command::from(logged(&p, &["mcp"]));
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    let client = ().serve(transport).await.expect("the MCP handshake over stdio");

    let tools = client.list_all_tools().await.unwrap();
    let listed = serde_json::to_string(&tools).unwrap();
    for tool in TOOLS {
        assert!(
            listed.contains(&format!("\"leaker__{tool}\"")),
            "{tool}: {listed}"
        );
    }
    let mut answers = std::collections::BTreeMap::new();
    for tool in TOOLS {
        let answer = client
            .call_tool(CallToolRequestParams::new(format!("leaker__{tool}")))
            .await;
        let shown = match &answer {
            Ok(result) => serde_json::to_string(result).unwrap(),
            Err(e) => format!("{e} {e:?}"),
        };
        if tool != "reversed" {
            assert_clean(&format!("the MCP client's answer from {tool}"), &shown);
        }
        answers.insert(tool, shown);
    }
    client.cancel().await.unwrap();

    let reversed: String = VALUE.chars().rev().collect();
    assert!(answers["reversed"].contains(&reversed), "{answers:?}");
    for (tool, expected) in [
        ("result", format!("the token is {MARKER}.")),
        ("result", format!("\"token\":\"{MARKER}\"")),
        ("encoded", format!("base64 {MARKER} percent /{MARKER}/")),
        ("error-result", format!("failed with {MARKER}")),
        ("invalid-arguments", format!("the token {MARKER} is wrong")),
        ("unknown", format!("no tool `{MARKER}`")),
        ("panic", format!("panicking with {MARKER}")),
        ("unstash", format!("from kv: {MARKER}")),
    ] {
        assert!(
            answers[tool].contains(&expected),
            "{tool}: {}",
            answers[tool]
        );
    }

    // The server's log: every level, stdout and stderr, redacted.
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert_clean("`pincer mcp`'s log", &logged);
    for line in [
        "trace", "debug", "info", "warn", "error", "stdout", "stderr",
    ] {
        assert!(
            logged.contains(&format!("{line} {MARKER}")),
            "{line}: {logged}"
        );
    }

    // The server flushes its audit trail when its client goes: wait for it, bounded.
    let started = std::time::Instant::now();
    let (shown, records) = loop {
        let (shown, records) = audit(&p);
        let places: BTreeSet<String> = redacted_places(&records).into_iter().collect();
        if places.contains("http-audit") && places.contains("approval")
            || started.elapsed() > std::time::Duration::from_secs(60)
        {
            break (shown, records);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_audit_clean(&p, &shown);
    let places: BTreeSet<String> = redacted_places(&records).into_iter().collect();
    for place in [
        "tool-result",
        "tool-error",
        "log",
        "stdout",
        "stderr",
        "fault",
        "approval",
        "http-audit",
    ] {
        assert!(places.contains(place), "{place} missing from {places:?}");
    }
}

#[test]
fn setting_a_value_too_short_to_redact_warns() {
    let p = leaker();
    let out = p.set_secret(ID, "token", "abc");
    assert!(out.status.success(), "{out:?}");
    let warning = text(&out.stderr);
    assert!(
        warning.contains("shorter than 4 bytes") && warning.contains("not redact"),
        "{warning}"
    );
    let out = p.set_secret(ID, "token", VALUE);
    assert!(text(&out.stderr).is_empty(), "{out:?}");
}
