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
