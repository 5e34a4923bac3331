//! The capabilities a plugin reaches through `pincer:plugin`, end to end: fixture
//! plugins installed as an admin would, then called. Each capability is tested
//! allowed, denied and malformed, plus its own attacks.

use std::path::Path;

use pincer_test_support::{Pincer, fixture};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Install `fixture_name` as plugin `id` with manifest `sections`.
fn installed(p: &Pincer, fixture_name: &str, id: &str, sections: &str) {
    let key = if p.path("admin.key").exists() {
        p.path("admin.key")
    } else {
        p.trusted_key("admin")
    };
    let bundle = p.bundle(&fixture(fixture_name), id, "1.0.0", sections, &key);
    p.ok(&["install", s(&bundle), "--yes"]);
}

fn call(p: &Pincer, id: &str, tool: &str, args: &str) -> (bool, String) {
    p.call(id, tool, args)
}

fn set_secret(p: &Pincer, id: &str, name: &str, value: &str) -> std::process::Output {
    p.set_secret(id, name, value)
}

const SECRETS: &str = "com.example.secrets";
const VALUE: &str = "sk-test-7f3a9c1e5b2d8f4a6c0e";

fn secrets_plugin() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    installed(
        &p,
        "secrets-probe",
        SECRETS,
        "[capabilities.secrets]\nnames = [\"api-token\", \"unset-one\"]\n",
    );
    p
}

#[test]
fn a_plugin_reads_a_declared_secret_the_admin_set() {
    let p = secrets_plugin();
    let out = set_secret(&p, SECRETS, "api-token", VALUE);
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(VALUE));
    // The plugin returns the value it got; the host replaces exactly that value on its
    // way out, which shows both that it arrived and that it leaves no further.
    assert_eq!(
        call(&p, SECRETS, "read", r#"{"name":"api-token"}"#),
        (false, "value: [redacted:api-token]".to_owned())
    );
}

#[test]
fn an_undeclared_secret_is_denied_with_the_manifest_line_to_add() {
    let p = secrets_plugin();
    assert!(set_secret(&p, SECRETS, "other", "x").status.success());
    let (is_error, text) = call(&p, SECRETS, "read", r#"{"name":"other"}"#);
    assert!(is_error);
    assert!(
        text.starts_with("denied:") && text.contains("[capabilities.secrets] names = [\"other\"]"),
        "{text}"
    );
}

#[test]
fn a_declared_secret_nobody_set_names_the_command_that_sets_it() {
    let p = secrets_plugin();
    let (is_error, text) = call(&p, SECRETS, "read", r#"{"name":"unset-one"}"#);
    assert!(is_error);
    assert!(
        text.contains("not set")
            && text.contains("pincer secrets set com.example.secrets unset-one"),
        "{text}"
    );
}

#[test]
fn malformed_secret_names_are_refused_in_manifests_and_on_the_command_line() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let err = p.pack_refused(
        &fixture("secrets-probe"),
        SECRETS,
        "[capabilities.secrets]\nnames = [\"API TOKEN\"]\n",
        &key,
    );
    assert!(err.contains("invalid secret name `API TOKEN`"), "{err}");
    let out = set_secret(&p, SECRETS, "API TOKEN", "x");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = set_secret(&p, "not/an/id", "token", "x");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn a_secret_moved_to_another_name_does_not_decrypt() {
    let p = secrets_plugin();
    assert!(set_secret(&p, SECRETS, "unset-one", VALUE).status.success());
    // Move the sealed value of `unset-one` to `api-token` in the vault file.
    let path = p.home.path().join("vault.json");
    let mut vault: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sealed = vault["secrets"][SECRETS]["unset-one"].clone();
    vault["secrets"][SECRETS]["api-token"] = sealed;
    std::fs::write(&path, vault.to_string()).unwrap();
    let (is_error, text) = call(&p, SECRETS, "read", r#"{"name":"api-token"}"#);
    assert!(is_error);
    assert!(
        text.contains("does not decrypt") && !text.contains(VALUE),
        "{text}"
    );
}

#[test]
fn tampered_ciphertext_does_not_decrypt() {
    let p = secrets_plugin();
    assert!(set_secret(&p, SECRETS, "api-token", VALUE).status.success());
    let path = p.home.path().join("vault.json");
    let mut vault: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sealed = &mut vault["secrets"][SECRETS]["api-token"]["ciphertext"];
    // Flip one character of the base64 ciphertext.
    let mut text = sealed.as_str().unwrap().to_owned();
    let first = text.remove(0);
    text.insert(0, if first == 'A' { 'B' } else { 'A' });
    *sealed = serde_json::Value::String(text);
    std::fs::write(&path, vault.to_string()).unwrap();
    let (is_error, text) = call(&p, SECRETS, "read", r#"{"name":"api-token"}"#);
    assert!(is_error && text.contains("does not decrypt"), "{text}");
}

#[test]
fn secret_values_never_reach_logs_audit_errors_or_json() {
    let p = secrets_plugin();
    let mut written = Vec::new();
    let out = set_secret(&p, SECRETS, "api-token", VALUE);
    written.extend_from_slice(&out.stdout);
    written.extend_from_slice(&out.stderr);
    // The plugin's own result holds the value (the plugin chose to return it): only
    // the host's output is checked, so keep stderr of the call, with all logging on.
    let call = p
        .command(&[
            "-vv",
            "call",
            SECRETS,
            "read",
            "--args",
            r#"{"name":"api-token"}"#,
        ])
        .output()
        .unwrap();
    written.extend_from_slice(&call.stderr);
    for args in [
        &["secrets", "list", "--json"][..],
        &["secrets", "list"],
        &["audit", "show", "--json"],
        &["info", SECRETS, "--json"],
        &["list", "--json"],
        // A denial, with its error.
        &["call", SECRETS, "read", "--args", r#"{"name":"nope"}"#],
    ] {
        let out = p.run(args);
        written.extend_from_slice(&out.stdout);
        written.extend_from_slice(&out.stderr);
    }
    let text = String::from_utf8_lossy(&written);
    assert!(text.contains("secret-read"), "the read was audited by name");
    assert!(
        !text.contains(VALUE),
        "a secret value leaked into the host's output"
    );
    // Nor anywhere in the home directory, the vault included.
    for entry in walk(p.home.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(VALUE),
            "{} holds the secret value",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

const CONFIG: &str = "com.example.config";

fn config_plugin() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    installed(
        &p,
        "config-probe",
        CONFIG,
        "[capabilities.config]\nkeys = [\"base-url\", \"model\"]\n",
    );
    p
}

#[test]
fn a_plugin_reads_the_settings_an_admin_set() {
    let p = config_plugin();
    p.ok(&["config", "set", CONFIG, "base-url", "http://127.0.0.1:9/v1"]);
    assert_eq!(
        call(&p, CONFIG, "get", r#"{"key":"base-url"}"#),
        (false, "value: http://127.0.0.1:9/v1".to_owned())
    );
    assert_eq!(
        call(&p, CONFIG, "get", r#"{"key":"model"}"#),
        (false, "unset".to_owned())
    );
    let list: serde_json::Value =
        serde_json::from_str(&p.ok(&["config", "list", CONFIG, "--json"])).unwrap();
    assert_eq!(list["base-url"], "http://127.0.0.1:9/v1");
    p.ok(&["config", "unset", CONFIG, "base-url"]);
    assert_eq!(
        call(&p, CONFIG, "get", r#"{"key":"base-url"}"#),
        (false, "unset".to_owned())
    );
}

#[test]
fn an_undeclared_config_key_is_refused_at_set_time_and_denied_at_read_time() {
    let p = config_plugin();
    let err = p.fails(3, &["config", "set", CONFIG, "api-key", "x"]);
    assert!(
        err.contains("[capabilities.config] keys = [\"api-key\"]"),
        "{err}"
    );
    let (is_error, text) = call(&p, CONFIG, "get", r#"{"key":"api-key"}"#);
    assert!(is_error && text.starts_with("denied:"), "{text}");
    assert!(text.contains("[capabilities.config] keys"), "{text}");
}

#[test]
fn config_for_a_plugin_that_is_not_installed_or_a_malformed_key_is_refused() {
    let p = config_plugin();
    let err = p.fails(2, &["config", "set", "com.example.none", "model", "x"]);
    assert!(err.contains("not installed"), "{err}");
    let err = p.fails(2, &["config", "unset", CONFIG, "model"]);
    assert!(err.contains("no setting"), "{err}");
}

const KV: &str = "com.example.kv";

fn kv_plugin(quota: u64) -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    installed(
        &p,
        "kv-probe",
        KV,
        &format!("[capabilities.kv]\nquota_bytes = {quota}\n"),
    );
    p
}

#[test]
fn a_plugin_keeps_values_in_its_store_across_calls() {
    let p = kv_plugin(10_000);
    assert_eq!(
        call(&p, KV, "set", r#"{"key":"a/1","value":"one"}"#),
        (false, "ok".into())
    );
    assert_eq!(
        call(&p, KV, "set", r#"{"key":"a/2","value":"two"}"#),
        (false, "ok".into())
    );
    assert_eq!(
        call(&p, KV, "set", r#"{"key":"b","value":"three"}"#),
        (false, "ok".into())
    );
    // Each call is a fresh instance: the values persist in the host's store.
    assert_eq!(
        call(&p, KV, "get", r#"{"key":"a/2"}"#),
        (false, "value: two".into())
    );
    assert_eq!(
        call(&p, KV, "list", r#"{"prefix":"a/"}"#),
        (false, "a/1,a/2".into())
    );
    assert_eq!(
        call(&p, KV, "delete", r#"{"key":"a/1"}"#),
        (false, "ok".into())
    );
    assert_eq!(
        call(&p, KV, "get", r#"{"key":"a/1"}"#),
        (false, "missing".into())
    );
    // The store is outside every directory a plugin can mount.
    assert!(
        p.home
            .path()
            .join("kv")
            .join(format!("{KV}.sqlite"))
            .exists()
    );
}

#[test]
fn a_plugin_without_a_kv_grant_is_refused_before_it_runs() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.bundle(&fixture("kv-probe"), KV, "1.0.0", "", &key);
    let err = p.fails(3, &["install", s(&bundle), "--yes"]);
    assert!(
        err.contains("pincer:plugin/kv") && err.contains("[capabilities.kv]"),
        "{err}"
    );
}

#[test]
fn malformed_keys_and_quotas_are_refused() {
    let p = kv_plugin(10_000);
    let (is_error, text) = call(&p, KV, "set", r#"{"key":"","value":"x"}"#);
    assert!(is_error && text.contains("InvalidKey"), "{text}");
    let long = "k".repeat(2000);
    let (is_error, text) = call(&p, KV, "get", &format!(r#"{{"key":"{long}"}}"#));
    assert!(is_error && text.contains("InvalidKey"), "{text}");
    let scratch = pincer_test_support::ScratchPlugin::new(
        &fixture("kv-probe"),
        KV,
        "[capabilities.kv]\nquota_bytes = 0\n",
    );
    let err = p.fails(
        3,
        &[
            "call",
            "--dev",
            "--manifest",
            s(&scratch.manifest()),
            "get",
            "--args",
            r#"{"key":"a"}"#,
        ],
    );
    assert!(err.contains("quota_bytes must be at least 1"), "{err}");
}

#[test]
fn a_write_over_quota_is_an_error_value_and_changes_nothing() {
    let p = kv_plugin(100);
    let sixty = "x".repeat(59);
    assert_eq!(
        call(
            &p,
            KV,
            "set",
            &format!(r#"{{"key":"a","value":"{sixty}"}}"#)
        ),
        (false, "ok".into())
    );
    let (is_error, text) = call(
        &p,
        KV,
        "set",
        &format!(r#"{{"key":"b","value":"{sixty}"}}"#),
    );
    assert!(
        is_error && text.contains("QuotaExceeded") && text.contains("120 of 100 bytes"),
        "{text}"
    );
    assert_eq!(
        call(&p, KV, "get", r#"{"key":"b"}"#),
        (false, "missing".into())
    );
    // Replacing a value counts only the new one.
    let other = "y".repeat(59);
    assert_eq!(
        call(
            &p,
            KV,
            "set",
            &format!(r#"{{"key":"a","value":"{other}"}}"#)
        ),
        (false, "ok".into())
    );
    assert_eq!(
        call(&p, KV, "get", r#"{"key":"a"}"#),
        (false, format!("value: {other}"))
    );
}

#[test]
fn a_host_killed_mid_write_leaves_a_sound_store_with_every_committed_value() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    // Time for many commits however slow the disk: the call must still be writing
    // when it is killed.
    installed(
        &p,
        "kv-probe",
        KV,
        &format!(
            "[capabilities.kv]\nquota_bytes = {}\n\n[limits]\ntimeout_ms = 300000\n",
            1u64 << 30
        ),
    );
    let mut child = p
        .command(&["call", KV, "fill", "--args", r#"{"count":100000}"#])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it commit some writes, then kill it in the middle of the others.
    let db = p.home.path().join("kv").join(format!("{KV}.sqlite"));
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the call ended before it was killed"
        );
        let n = count_keys(&db);
        if n >= 50 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let conn = pincer::caps::kv::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let mut stmt = conn
        .prepare("SELECT key, value FROM kv ORDER BY key")
        .unwrap();
    let rows: Vec<(String, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        rows.len() >= 50 && rows.len() < 100_000,
        "{} rows",
        rows.len()
    );
    for (i, (key, value)) in rows.iter().enumerate() {
        assert_eq!(
            key,
            &format!("k{i:08}"),
            "keys are written in order, none lost"
        );
        assert_eq!(
            value,
            &format!("value-{i:08}-").repeat(16).into_bytes(),
            "value of {key}"
        );
    }
    // And the plugin goes on using it.
    assert_eq!(
        call(&p, KV, "set", r#"{"key":"after","value":"crash"}"#),
        (false, "ok".into())
    );
    assert_eq!(
        call(&p, KV, "get", r#"{"key":"after"}"#),
        (false, "value: crash".into())
    );
}

fn count_keys(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    pincer::caps::kv::open(db)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get(0)))
        .unwrap_or(0)
}

const APPROVAL: &str = "com.example.approval";

fn approval_plugin(policy: &str) -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    installed(
        &p,
        "approval-probe",
        APPROVAL,
        "[capabilities.approval]\nactions = [\"send-report\", \"delete-all\"]\n\n[limits]\ntimeout_ms = 8000\n",
    );
    std::fs::write(p.home.path().join("policy.toml"), policy).unwrap();
    p
}

const POLICY: &str = r#"
[approvals."com.example.approval"]
default = "deny"
timeout_s = 1

[approvals."com.example.approval".actions]
send-report = "allow"

[approvals."com.example.approval".tools]
sync = "ask"
"#;

#[test]
fn the_admins_policy_allows_or_denies_by_action() {
    let p = approval_plugin(POLICY);
    assert_eq!(
        call(&p, APPROVAL, "ask", r#"{"action":"send-report"}"#),
        (false, "approved".into())
    );
    let (is_error, text) = call(&p, APPROVAL, "ask", r#"{"action":"delete-all"}"#);
    assert!(
        !is_error && text.contains("rejected: the admin's policy denies `delete-all`"),
        "{text}"
    );
    let records = p.ok(&["audit", "show", "--json", "--plugin", APPROVAL]);
    assert!(
        records.contains("approval-request") && records.contains("approval-answer"),
        "{records}"
    );
    assert!(
        records.contains("\"how\":\"denied by policy\""),
        "{records}"
    );
}

#[test]
fn an_undeclared_action_is_denied_with_the_manifest_line_to_add() {
    let p = approval_plugin(POLICY);
    let (is_error, text) = call(&p, APPROVAL, "ask", r#"{"action":"format-disk"}"#);
    assert!(is_error, "{text}");
    assert!(
        text.contains("[capabilities.approval] actions = [\"format-disk\"]"),
        "{text}"
    );
}

#[test]
fn ask_without_a_terminal_is_rejected_at_once() {
    let p = approval_plugin(POLICY);
    // `sync` is an `ask` tool; `delete-all` has no action rule, so the tool rule applies.
    let (is_error, text) = call(&p, APPROVAL, "sync", r#"{"action":"delete-all"}"#);
    assert!(
        !is_error && text.contains("rejected: nobody can be asked here"),
        "{text}"
    );
}

#[test]
fn a_malformed_approval_policy_is_an_error_naming_its_line() {
    let p = approval_plugin("[approvals.\"com.example.approval\"]\ndefault = \"maybe\"\n");
    let err = p.fails(
        2,
        &[
            "call",
            APPROVAL,
            "ask",
            "--args",
            r#"{"action":"send-report"}"#,
        ],
    );
    assert!(err.contains("policy.toml:2:"), "{err}");
}

/// An approver that answers with `answer` after `delay`, or never (`None`).
struct Scripted {
    answer: Option<pincer::caps::approval::Answer>,
    delay: std::time::Duration,
}

impl pincer::caps::approval::Approver for Scripted {
    fn ask(
        &self,
        _: &str,
        _: &pincer::caps::bindings::pincer::plugin::approval::Request,
        timeout: std::time::Duration,
    ) -> Option<pincer::caps::approval::Answer> {
        if self.delay > timeout {
            std::thread::sleep(timeout);
            return None;
        }
        std::thread::sleep(self.delay);
        self.answer.clone()
    }
}

fn ask_with(p: &Pincer, approver: Scripted, tool: &str) -> String {
    let home = pincer::store::Home::open_at(p.home.path()).unwrap();
    let runtime = pincer::runtime::Runtime::new(home)
        .unwrap()
        .with_approver(std::sync::Arc::new(approver));
    let plugin = runtime.load_installed(APPROVAL).unwrap();
    let out = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(plugin.call_tool(tool, r#"{"action":"delete-all"}"#))
        .expect("the call returns, whatever the person does");
    serde_json::to_value(&out.content).unwrap()[0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn ask_waits_for_a_person() {
    let p = approval_plugin(POLICY);
    let yes = Scripted {
        answer: Some(pincer::caps::approval::Answer::Approve),
        delay: std::time::Duration::from_millis(100),
    };
    assert_eq!(ask_with(&p, yes, "sync"), "approved");
    let no = Scripted {
        answer: Some(pincer::caps::approval::Answer::Reject("not today".into())),
        delay: std::time::Duration::ZERO,
    };
    assert_eq!(ask_with(&p, no, "sync"), "rejected: not today");
}

#[test]
fn no_answer_before_the_timeout_means_denied() {
    let p = approval_plugin(POLICY);
    let silent = Scripted {
        answer: None,
        delay: std::time::Duration::from_secs(3600),
    };
    let started = std::time::Instant::now();
    assert_eq!(
        ask_with(&p, silent, "sync"),
        "rejected: no answer within 1 s, so it is denied"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn an_approver_that_ignores_its_timeout_cannot_hold_the_call() {
    let p = approval_plugin(POLICY);
    // Answers yes after a minute, whatever timeout it was given (1 s by policy).
    struct Stubborn;
    impl pincer::caps::approval::Approver for Stubborn {
        fn ask(
            &self,
            _: &str,
            _: &pincer::caps::bindings::pincer::plugin::approval::Request,
            _: std::time::Duration,
        ) -> Option<pincer::caps::approval::Answer> {
            std::thread::sleep(std::time::Duration::from_secs(60));
            Some(pincer::caps::approval::Answer::Approve)
        }
    }
    let home = pincer::store::Home::open_at(p.home.path()).unwrap();
    let runtime = pincer::runtime::Runtime::new(home)
        .unwrap()
        .with_approver(std::sync::Arc::new(Stubborn));
    let plugin = runtime.load_installed(APPROVAL).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = std::time::Instant::now();
    let out = rt
        .block_on(plugin.call_tool("sync", r#"{"action":"delete-all"}"#))
        .unwrap();
    // Well before the approver's answer, on however loaded a machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let text = serde_json::to_value(&out.content).unwrap()[0]["text"].clone();
    assert_eq!(text, "rejected: no answer within 1 s, so it is denied");
    rt.shutdown_background();
}

#[test]
fn the_wait_never_outlives_the_calls_deadline() {
    // The policy would wait a minute; the call has 8 s, of which the wait leaves the
    // plugin 2 s to hear the answer and act on it, however loaded the machine.
    let p = approval_plugin(&POLICY.replace("timeout_s = 1", "timeout_s = 60"));
    let silent = Scripted {
        answer: None,
        delay: std::time::Duration::from_secs(3600),
    };
    let text = ask_with(&p, silent, "sync");
    assert_eq!(
        text,
        "rejected: no answer before the call's time limit (8000 ms) ran short, so it is denied"
    );
}
