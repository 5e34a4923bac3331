//! Trust, install, update, approval and load-time re-verification, end to end through
//! the `pincer` binary. Every refusal also shows that nothing was installed or loaded.

use std::path::Path;

use pincer_test_support::{Pincer, fixture};

const ID: &str = "com.example.echo";

fn pincer() -> Pincer {
    Pincer::new(env!("CARGO_BIN_EXE_pincer"))
}

fn echo() -> std::path::PathBuf {
    fixture("well-behaved")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Nothing is installed: `list` says so and the store holds no plugin state.
fn assert_nothing_installed(p: &Pincer) {
    let list: serde_json::Value = serde_json::from_str(&p.ok(&["list", "--json"])).unwrap();
    assert_eq!(list, serde_json::json!([]), "something was installed");
    let plugins = p.home.path().join("plugins");
    if plugins.exists() {
        for entry in std::fs::read_dir(&plugins).unwrap() {
            let path = entry.unwrap().path();
            assert!(
                !path.join("state.json").exists(),
                "{} has an install record",
                path.display()
            );
        }
    }
}

fn info(p: &Pincer, id: &str) -> serde_json::Value {
    serde_json::from_str(&p.ok(&["info", id, "--json"])).unwrap()
}

fn audit_events(p: &Pincer) -> Vec<String> {
    p.ok(&["audit", "show", "--json"])
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            r["event"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn install_refused(p: &Pincer, bundle: &Path, expect: &str) {
    let err = p.fails(3, &["install", s(bundle), "--yes"]);
    assert!(err.contains(expect), "expected `{expect}` in:\n{err}");
    assert_nothing_installed(p);
    assert_eq!(audit_events(p).last().map(String::as_str), Some("refuse"));
}

#[test]
fn installs_a_trusted_bundle_and_calls_it_by_id() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    let out = p.ok(&["install", s(&bundle), "--yes"]);
    assert!(out.contains("installed com.example.echo 1.0.0"), "{out}");
    let out = p.ok(&["call", ID, "echo", "--args", r#"{"text":"hi"}"#]);
    assert!(out.contains("hi"), "{out}");
    let out = p.ok(&["list"]);
    assert!(out.contains(ID) && out.contains("1.0.0"), "{out}");
    let i = info(&p, ID);
    assert_eq!(i["version"], "1.0.0");
    assert_eq!(
        i["approval"]["by"]
            .as_str()
            .map(|b| b.starts_with("admin:")),
        Some(true)
    );
    // The approval records the digest of the canonical grant set.
    assert_eq!(i["approval"]["grants_digest"].as_str().unwrap().len(), 64);
    // The compiled code is in the authenticated cache.
    let sha = i["sha256"].as_str().unwrap();
    assert!(
        std::fs::read_dir(p.home.path().join("cache"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains(sha))
    );
    assert_eq!(audit_events(&p), ["trust-add", "install"]);
    let out = p.ok(&["remove", ID]);
    assert!(out.contains("removed"), "{out}");
    assert_nothing_installed(&p);
    assert!(p.fails(2, &["call", ID, "echo"]).contains("not installed"));
}

#[test]
fn refuses_a_bundle_signed_by_an_unknown_key() {
    let p = pincer();
    let _trusted = p.trusted_key("Example");
    let (stranger, _) = p.keygen("stranger");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &stranger);
    install_refused(&p, &bundle, "which is not trusted");
}

#[test]
fn refuses_a_bundle_signed_by_a_revoked_key() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    let id = p.ok(&["trust", "list", "--json"]);
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    p.ok(&["trust", "revoke", id[0]["key_id"].as_str().unwrap()]);
    install_refused(&p, &bundle, "was revoked");
}

#[test]
fn refuses_a_manifest_changed_after_signing() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    let manifest = bundle.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("[component]", "[limits]\nmemory_mib = 512\n\n[component]"),
    )
    .unwrap();
    install_refused(&p, &bundle, "was changed after signing");
}

#[test]
fn refuses_a_signature_moved_to_another_version() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let v1 = p.bundle(&echo(), ID, "1.0.0", "", &key);
    let v2 = p.bundle(&echo(), ID, "2.0.0", "", &key);
    // 1.0.0's signature next to 2.0.0's manifest.
    let signed_v1 = std::fs::read_to_string(v1.join("manifest.toml.minisig")).unwrap();
    assert!(signed_v1.contains("version:1.0.0"));
    std::fs::copy(
        v1.join("manifest.toml.minisig"),
        v2.join("manifest.toml.minisig"),
    )
    .unwrap();
    install_refused(&p, &v2, "signature check failed");
}

#[test]
fn refuses_a_valid_signature_bound_to_another_plugin() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    // A genuine signature by the trusted key over these very bytes, whose trusted
    // comment names another plugin: what a publisher's signature for one plugin would
    // look like if someone moved it onto another.
    let signer = pincer::trust::SigningKey::load(&key, || unreachable!()).unwrap();
    let manifest = std::fs::read(bundle.join("manifest.toml")).unwrap();
    let comment = pincer::trust::TrustedComment {
        plugin: "com.example.other".into(),
        version: "1.0.0".into(),
    };
    let sig = signer.sign(&manifest, &comment).unwrap();
    std::fs::write(bundle.join("manifest.toml.minisig"), sig).unwrap();
    install_refused(&p, &bundle, "names com.example.other@1.0.0");
}

#[test]
fn refuses_a_component_that_differs_from_the_signed_digest() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    std::fs::copy(fixture("panic"), bundle.join("component.wasm")).unwrap();
    install_refused(&p, &bundle, "digest check failed");
}

#[test]
fn refuses_an_unsigned_bundle() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    std::fs::remove_file(bundle.join("manifest.toml.minisig")).unwrap();
    install_refused(&p, &bundle, "has no signature");
}

#[test]
fn refuses_a_component_whose_imports_exceed_its_grants() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(
        &fixture("sockets"),
        "com.example.sockets",
        "1.0.0",
        "",
        &key,
    );
    install_refused(&p, &bundle, "wasi:sockets");
}

#[test]
fn refuses_without_a_terminal_or_yes() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    let err = p.fails(3, &["install", s(&bundle)]);
    assert!(err.contains("--yes"), "{err}");
    assert_nothing_installed(&p);
}

#[test]
fn refuses_a_downgrade_unless_allowed() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let v2 = p.bundle(&echo(), ID, "2.0.0", "", &key);
    let v1 = p.bundle(&echo(), ID, "1.0.0", "", &key);
    p.ok(&["install", s(&v2), "--yes"]);
    let err = p.fails(3, &["install", s(&v1), "--yes"]);
    assert!(err.contains("--allow-downgrade"), "{err}");
    assert_eq!(info(&p, ID)["version"], "2.0.0");
    p.ok(&["install", s(&v1), "--yes", "--allow-downgrade"]);
    assert_eq!(info(&p, ID)["version"], "1.0.0");
}

#[test]
fn refuses_the_same_version_with_other_content() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let a = p.bundle(&echo(), ID, "1.0.0", "", &key);
    let b = p.bundle(&echo(), ID, "1.0.0", "[limits]\nmemory_mib = 32\n", &key);
    p.ok(&["install", s(&a), "--yes"]);
    // The same bundle again changes nothing.
    assert!(
        p.ok(&["install", s(&a), "--yes"])
            .contains("nothing changed")
    );
    // Same version, different manifest: the publisher must bump the version.
    let err = p.fails(3, &["install", s(&b), "--yes"]);
    assert!(err.contains("must bump the version"), "{err}");
    assert!(info(&p, ID)["grants"]["limits"]["memory_mib"] == 64);
}

#[test]
fn an_update_that_asks_for_more_waits_for_approval() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let v1 = p.bundle(&echo(), ID, "1.0.0", "", &key);
    let v2 = p.bundle(
        &echo(),
        ID,
        "2.0.0",
        "[[capabilities.filesystem.mounts]]\nguest = \"/data\"\nroot = \"plugin-data\"\naccess = \"read-write\"\n\n[limits]\nmemory_mib = 128\n",
        &key,
    );
    p.ok(&["install", s(&v1), "--yes"]);
    let out = p.ok(&["install", s(&v2), "--yes"]);
    assert!(out.contains("pending"), "{out}");
    let i = info(&p, ID);
    assert_eq!(i["version"], "1.0.0", "the old version keeps running");
    assert_eq!(i["pending"]["version"], "2.0.0");
    let changes = i["pending"]["changes"].to_string();
    assert!(
        changes.contains("new mount") && changes.contains("memory_mib from 64 to 128"),
        "{changes}"
    );
    // The approved version still answers.
    assert!(
        p.ok(&["call", ID, "echo", "--args", r#"{"text":"old"}"#])
            .contains("old")
    );
    // Approving shows the difference, then switches.
    let err = p.fails(3, &["approve", ID]);
    assert!(err.contains("--yes"), "{err}");
    let out = p.ok(&["approve", ID, "--yes"]);
    assert!(
        out.contains("new mount") && out.contains("approved com.example.echo 2.0.0"),
        "{out}"
    );
    let i = info(&p, ID);
    assert_eq!(i["version"], "2.0.0");
    assert!(i["pending"].is_null());
    assert!(
        p.ok(&["call", ID, "echo", "--args", r#"{"text":"new"}"#])
            .contains("new")
    );
    let err = p.fails(2, &["approve", ID]);
    assert!(err.contains("no pending update"), "{err}");
    assert_eq!(
        audit_events(&p),
        ["trust-add", "install", "pending", "approve"]
    );
}

#[test]
fn an_update_that_asks_for_less_applies_at_once() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let v1 = p.bundle(
        &echo(),
        ID,
        "1.0.0",
        "[limits]\nmemory_mib = 64\ntimeout_ms = 30000\n",
        &key,
    );
    let v2 = p.bundle(
        &echo(),
        ID,
        "1.1.0",
        "[limits]\nmemory_mib = 32\ntimeout_ms = 30000\n",
        &key,
    );
    p.ok(&["install", s(&v1), "--yes"]);
    let out = p.ok(&["install", s(&v2), "--yes"]);
    assert!(out.contains("updated com.example.echo to 1.1.0"), "{out}");
    let i = info(&p, ID);
    assert_eq!(i["version"], "1.1.0");
    assert!(i["pending"].is_null());
    // The old bundle is gone from the store.
    let versions: Vec<String> = std::fs::read_dir(p.home.path().join("plugins").join(ID).join("v"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(versions.len(), 1);
    assert!(versions[0].starts_with("1.1.0-"), "{versions:?}");
}

/// A home with the echo fixture installed as 1.0.0.
fn installed_echo() -> Pincer {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    p.ok(&["install", s(&bundle), "--yes"]);
    p
}

/// The installed bundle's directory.
fn stored(p: &Pincer) -> std::path::PathBuf {
    let v = p.home.path().join("plugins").join(ID).join("v");
    std::fs::read_dir(&v)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn load_refused(p: &Pincer, expect: &str) {
    let err = p.fails(3, &["call", ID, "echo", "--args", r#"{"text":"x"}"#]);
    assert!(err.contains(expect), "expected `{expect}` in:\n{err}");
    let last = p.ok(&["audit", "show", "--json", "--plugin", ID]);
    let last: serde_json::Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "load-refused");
    assert!(last["details"]["reason"].as_str().unwrap().contains(expect));
}

#[test]
fn refuses_to_load_a_plugin_whose_component_changed_on_disk() {
    let p = installed_echo();
    std::fs::copy(fixture("panic"), stored(&p).join("component.wasm")).unwrap();
    load_refused(&p, "digest check failed");
}

#[test]
fn reinstalling_the_bundle_repairs_a_damaged_installed_copy() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let bundle = p.bundle(&echo(), ID, "1.0.0", "", &key);
    p.ok(&["install", s(&bundle), "--yes"]);
    std::fs::write(stored(&p).join("component.wasm"), b"damaged").unwrap();
    load_refused(&p, "digest check failed");
    let out = p.ok(&["install", s(&bundle), "--yes"]);
    assert!(out.contains("replaced the damaged installed copy"), "{out}");
    assert!(
        p.ok(&["call", ID, "echo", "--args", r#"{"text":"back"}"#])
            .contains("back")
    );
}

#[test]
fn refuses_to_load_a_plugin_whose_manifest_changed_on_disk() {
    let p = installed_echo();
    let manifest = stored(&p).join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("A test fixture.", "Now with more.")).unwrap();
    load_refused(&p, "was changed after signing");
}

#[test]
fn refuses_to_load_a_plugin_whose_key_was_revoked() {
    let p = installed_echo();
    let keys: serde_json::Value =
        serde_json::from_str(&p.ok(&["trust", "list", "--json"])).unwrap();
    let out = p.ok(&["trust", "revoke", keys[0]["key_id"].as_str().unwrap()]);
    assert!(out.contains(ID), "revoke names the plugins it stops: {out}");
    load_refused(&p, "was revoked");
}

#[test]
fn audit_verify_fails_on_an_edited_record() {
    let p = installed_echo();
    assert!(p.ok(&["audit", "verify"]).contains("ok: 2 records"));
    let log = p.home.path().join("audit/log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(
        &log,
        text.replace("\"outcome\":\"installed\"", "\"outcome\":\"updated\""),
    )
    .unwrap();
    let err = p.fails(3, &["audit", "verify"]);
    assert!(err.contains("record 2 at line 2 was edited"), "{err}");
}

#[test]
fn dev_mode_is_explicit_and_loud() {
    let p = pincer();
    let scratch = pincer_test_support::ScratchPlugin::new(&echo(), ID, "");
    let manifest = scratch.manifest();
    let err = p.fails(2, &["call", "--manifest", s(&manifest), "echo"]);
    assert!(err.contains("--dev"), "{err}");
    let out = p.run(&[
        "call",
        "--dev",
        "--manifest",
        s(&manifest),
        "echo",
        "--args",
        r#"{"text":"d"}"#,
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOT signed") && err.contains("NO admin approved"),
        "{err}"
    );
}

#[test]
fn a_kill_at_any_moment_of_an_install_leaves_the_store_consistent() {
    let p = pincer();
    let key = p.trusted_key("Example");
    let v1 = p.bundle(&echo(), ID, "1.0.0", "", &key);
    // Equal grants, so going back from 1.1.0 to 1.0.0 applies at once too.
    let v2 = p.bundle(&echo(), ID, "1.1.0", "", &key);
    p.ok(&["install", s(&v1), "--yes"]);
    // Kill `install v2` after a growing delay, until it gets to finish. Each time, the
    // store must hold exactly 1.0.0 or exactly 1.1.0, and that version must load.
    let mut outcomes = std::collections::BTreeMap::new();
    for step in 0..200u64 {
        let mut child = p
            .command(&["install", s(&v2), "--yes"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(step * step * 10));
        let killed = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let status = child.wait().unwrap();
        let version = info(&p, ID)["version"].as_str().unwrap().to_owned();
        assert!(version == "1.0.0" || version == "1.1.0", "{version}");
        // Whatever is recorded loads and runs, verified.
        let out = p.ok(&["call", ID, "echo", "--args", r#"{"text":"alive"}"#]);
        assert!(out.contains("alive"));
        *outcomes.entry((killed, version.clone())).or_insert(0) += 1;
        if version == "1.1.0" {
            // Back to 1.0.0 for the next round, unless the install finished unkilled.
            if !killed && status.success() {
                break;
            }
            p.ok(&["install", s(&v1), "--yes", "--allow-downgrade"]);
        }
    }
    eprintln!("(killed, version) -> rounds: {outcomes:?}");
    // Some kills landed before the commit and left 1.0.0 in place.
    assert!(
        outcomes.contains_key(&(true, "1.0.0".to_owned())),
        "no kill landed mid-install: {outcomes:?}"
    );
    // A later install cleans up whatever a killed one left behind.
    p.ok(&["install", s(&v2), "--yes"]);
    let leftovers: Vec<String> = std::fs::read_dir(p.home.path().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staging-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let audit = p.ok(&["audit", "verify"]);
    assert!(audit.contains("ok"), "{audit}");
}
