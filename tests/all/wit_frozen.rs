//! `pincer:plugin@0.1.0` is released: plugins are built against it, so its WIT is
//! frozen. Changes go into a new version folder (`wit/0.2.0/`) that the host learns to
//! load beside this one; this test fails if a byte of `wit/0.1.0/` changes, or a file
//! is added or removed there.

use sha2::{Digest, Sha256};

/// The released files and their SHA-256.
const RELEASED: [(&str, &str); 4] = [
    (
        "capabilities.wit",
        "b3316719ae1bc6c723ba70473d35c7afbb2160cfda4f0addab1ed4c8d3c35a8b",
    ),
    (
        "chat.wit",
        "4e50882a27a74d05b709af0324adb0f996fc38c154b36ee9960459b0e61ee9fd",
    ),
    (
        "mcp.wit",
        "8a52bfdbc128ad5f793267aa83d9817efe75624960024df2b3761e486a5567f2",
    ),
    (
        "recording.wit",
        "55c152f8e3eb1775aa177e2244706991cdc4356b6c5537b7aa25fc746dfbe211",
    ),
];

#[test]
fn the_released_wit_package_is_frozen() {
    let dir = pincer_test_support::repo_dir().join("wit/0.1.0");
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    let released: Vec<&str> = RELEASED.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        present, released,
        "wit/0.1.0 is released and frozen: add files to a new version folder (wit/0.2.0/), not to it"
    );
    for (name, expected) in RELEASED {
        let text = std::fs::read(dir.join(name)).unwrap();
        assert!(
            text.starts_with(b"package pincer:plugin@0.1.0;"),
            "wit/0.1.0/{name} must declare the package it belongs to"
        );
        let digest = hex_of(&Sha256::digest(&text));
        assert_eq!(
            digest, expected,
            "wit/0.1.0/{name} changed, but pincer:plugin@0.1.0 is released and frozen: plugins built against it must keep loading. Revert it, and put the change in a new version folder (wit/0.2.0/)"
        );
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Components built against the released package, kept as built
/// (`tests/compat/0.1.0/`, from the reference plugins when 0.1.0 was current): the
/// host must go on loading and running them when later versions are added beside it.
/// Rebuilding them from today's sources would prove nothing; they stay as they are.
#[test]
fn components_built_against_0_1_0_still_load_and_run() {
    use pincer_test_support::{Pincer, repo_dir};

    let compat = |name: &str| repo_dir().join(format!("tests/compat/0.1.0/{name}.wasm"));
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));

    for (name, world) in [
        ("hello", "mcp-server"),
        ("chat", "chat"),
        ("recorder", "recorder"),
        ("viewer", "viewer"),
    ] {
        let wasm = compat(name);
        let report: serde_json::Value =
            serde_json::from_str(&p.ok(&["inspect", "--json", wasm.to_str().unwrap()])).unwrap();
        assert_eq!(report["world"], world, "{name}: {report}");
        let pincer_imports: Vec<&str> = report["imports"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["name"].as_str())
            .filter(|n| n.starts_with("pincer:"))
            .collect();
        assert!(
            pincer_imports.iter().all(|n| n.ends_with("@0.1.0")),
            "{name} imports {pincer_imports:?}"
        );
    }

    // An mcp-server plugin of 0.1.0 installs and answers a call.
    let key = p.trusted_key("compat");
    let hello = p.pack(
        &repo_dir().join("manifests/hello.toml"),
        &compat("hello"),
        &key,
    );
    p.ok(&["install", hello.to_str().unwrap(), "--yes"]);
    let (is_error, out) = p.call("dev.pincer.hello", "greet", r#"{"name":"Ada"}"#);
    assert!(!is_error, "{out}");
    assert!(out.contains("Hello, Ada!"), "{out}");

    // A chat plugin of 0.1.0 installs and runs: with no provider configured it answers
    // with its own error, which only a running instance can give.
    let chat = p.pack(
        &repo_dir().join("manifests/chat.toml"),
        &compat("chat"),
        &key,
    );
    p.ok(&["install", chat.to_str().unwrap(), "--yes"]);
    let out = p.run(&["chat", "dev.pincer.chat", "hello"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no provider is configured"), "{stderr}");
}
