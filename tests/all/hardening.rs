//! Exhaustion and robustness: what one plugin, a remote server or a damaged file could
//! otherwise use to take the host down or widen what it holds.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pincer_test_support::{McpStdio, Pincer, fixture};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every directory under `dir`, and every file outside the plugins' own roots, with
/// permission bits for group or others.
fn open_to_others(dir: &Path, home: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let rel = entry.path().strip_prefix(home).unwrap().to_path_buf();
        let plugins_own = ["data", "tmp", "recordings"]
            .iter()
            .any(|root| rel.starts_with(root));
        if meta.is_dir() {
            if mode & 0o077 != 0 {
                found.push(format!("{} {mode:o}", rel.display()));
            }
            open_to_others(&entry.path(), home, found);
        } else if meta.is_file() && !plugins_own && mode & 0o077 != 0 {
            found.push(format!("{} {mode:o}", rel.display()));
        }
    }
}

#[test]
fn the_home_and_what_plugins_keep_are_private_to_the_user() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    // A home that exists already, as an admin (or an older Pincer) made it.
    std::fs::set_permissions(p.home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = p.trusted_key("admin");
    let mounts = r#"
[[capabilities.filesystem.mounts]]
guest = "/data"
root = "plugin-data"
access = "read-write"

[[capabilities.filesystem.mounts]]
guest = "/tmp"
root = "temp"
subdir = "scratch"
access = "read-write"

[[capabilities.filesystem.mounts]]
guest = "/recordings"
root = "recordings"
subdir = "mine"
access = "read-write"
"#;
    let bundle = p.bundle(
        &fixture("fs-probe"),
        "com.example.probe",
        "1.0.0",
        mounts,
        &key,
    );
    p.ok(&["install", s(&bundle), "--yes"]);
    let kv = p.bundle(
        &fixture("kv-probe"),
        "com.example.kv",
        "1.0.0",
        "[capabilities.kv]\nquota_bytes = 10000\n",
        &key,
    );
    p.ok(&["install", s(&kv), "--yes"]);
    p.call(
        "com.example.probe",
        "write",
        r#"{"path":"/data/f","text":"x"}"#,
    );
    p.call("com.example.kv", "set", r#"{"key":"a","value":"b"}"#);
    p.ok(&["config", "list", "com.example.probe"]);
    let home = p.home.path().canonicalize().unwrap();
    let mode = std::fs::metadata(&home).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the home");
    let mut found = Vec::new();
    open_to_others(&home, &home, &mut found);
    assert!(found.is_empty(), "readable by others: {found:?}");
    for dir in [
        "data/com.example.probe",
        "tmp/com.example.probe/scratch",
        "recordings/mine",
        "kv",
    ] {
        assert!(home.join(dir).is_dir(), "{dir}");
    }
}

/// How many file descriptors process `pid` holds.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn an_instance_that_opens_files_without_end_is_stopped_and_the_server_goes_on() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.bundle(
        &fixture("fs-probe"),
        "com.example.probe",
        "1.0.0",
        "[[capabilities.filesystem.mounts]]\nguest = \"/data\"\nroot = \"plugin-data\"\naccess = \"read-write\"\n",
        &key,
    );
    p.ok(&["install", s(&bundle), "--yes"]);
    assert_eq!(
        p.call(
            "com.example.probe",
            "write",
            r#"{"path":"/data/f","text":"x"}"#
        ),
        (false, "written".into())
    );
    // Through the command line: a fault naming the limit, not a crash.
    let out = p.run(&[
        "call",
        "com.example.probe",
        "hoard",
        "--args",
        r#"{"path":"/data/f","count":100000}"#,
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("held more than 1024 open resources"), "{err}");
    // In a server: it stops the instance, gives every descriptor back, and serves on.
    let mut server = McpStdio::start(&p);
    let before = descriptors(server.pid());
    for _ in 0..2 {
        let hoard = server.call(
            "probe__hoard",
            serde_json::json!({ "path": "/data/f", "count": 100000 }),
        );
        assert_eq!(hoard["isError"], true, "{hoard}");
        assert!(hoard.to_string().contains("1024"), "{hoard}");
    }
    // At most one instance's worth is ever held, and the spent instance gives them
    // back once the server has answered (it drops it after writing the answer).
    let held = descriptors(server.pid());
    assert!(
        held <= before + 1024 + 16,
        "descriptors before {before}, then {held}"
    );
    let started = std::time::Instant::now();
    let mut after = held;
    while after > before + 8 && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        after = descriptors(server.pid());
    }
    assert!(
        after <= before + 8,
        "descriptors before {before}, after {after}"
    );
    let read = server.call("probe__read", serde_json::json!({ "path": "/data/f" }));
    assert_eq!(read["content"][0]["text"], "x", "{read}");
}

#[test]
fn the_policy_caps_kv_quotas_whatever_the_manifest_asks_and_review_rates_them() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    // The manifest asks for a 1 GiB store; the admin allows 64 bytes.
    let kv = p.bundle(
        &fixture("kv-probe"),
        "com.example.kv",
        "1.0.0",
        &format!("[capabilities.kv]\nquota_bytes = {}\n", 1u64 << 30),
        &key,
    );
    // Rated: a store that large can fill the disk.
    let review: serde_json::Value =
        serde_json::from_str(&p.ok(&["review", s(&kv), "--json"])).unwrap();
    let quota = review["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["capability"] == "kv")
        .unwrap()
        .clone();
    assert_eq!(quota["risk"], "medium", "{quota}");
    p.ok(&["install", s(&kv), "--yes"]);
    std::fs::write(
        p.home.path().join("policy.toml"),
        "[limits]\nmax_kv_quota_bytes = 64\n",
    )
    .unwrap();
    assert_eq!(
        p.call("com.example.kv", "set", r#"{"key":"a","value":"small"}"#),
        (false, "ok".into())
    );
    let (is_error, text) = p.call(
        "com.example.kv",
        "set",
        &serde_json::json!({ "key": "b", "value": "x".repeat(200) }).to_string(),
    );
    assert!(is_error && text.to_lowercase().contains("quota"), "{text}");
}

#[test]
fn a_server_goes_on_using_temp_after_another_process_empties_it() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    let bundle = p.bundle(
        &fixture("fs-probe"),
        "com.example.probe",
        "1.0.0",
        "[[capabilities.filesystem.mounts]]\nguest = \"/tmp\"\nroot = \"temp\"\naccess = \"read-write\"\n",
        &key,
    );
    p.ok(&["install", s(&bundle), "--yes"]);
    let mut server = McpStdio::start(&p);
    let write = |server: &mut McpStdio, name: &str| {
        server.call(
            "probe__write",
            serde_json::json!({ "path": format!("/tmp/{name}"), "text": "x" }),
        )
    };
    assert_eq!(write(&mut server, "a")["content"][0]["text"], "written");
    // Another process loads the plugin: its temp is emptied (removed and made again).
    assert_eq!(
        p.call("com.example.probe", "list", r#"{"path":"/tmp"}"#),
        (false, String::new())
    );
    // The server's next instance gets the temp directory that is there now.
    let again = write(&mut server, "b");
    assert_eq!(again["content"][0]["text"], "written", "{again}");
    assert!(p.home.path().join("tmp/com.example.probe/b").exists());
}
