//! A plugin id belongs to the key that signed its approved version: another trusted
//! publisher cannot take it over (with its secrets, key-value store, data, tool pins
//! and alias) by signing a higher version, and what a removed plugin leaves behind
//! either goes with it or stays bound to its key.

use std::path::Path;

use pincer_test_support::{Pincer, fixture};
use serde_json::Value;

const ID: &str = "com.example.probe";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The probe with a data mount, a secret and a config key: all that an id keeps.
const SECTIONS: &str = r#"
[[capabilities.filesystem.mounts]]
guest = "/data"
root = "plugin-data"
access = "read-write"

[capabilities.secrets]
names = ["token"]

[capabilities.config]
keys = ["region"]
"#;

fn key_id(p: &Pincer, bundle: &Path) -> String {
    let out = p.run(&["review", s(bundle), "--json"]);
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    review["signature"]["key_id"].as_str().unwrap().to_owned()
}

/// Publishers A and B, both trusted; A's probe 1.0.0 installed, with a secret, a
/// config value and a file in its data.
fn two_publishers() -> (Pincer, std::path::PathBuf, std::path::PathBuf) {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let a = p.trusted_key("Alice");
    let b = p.trusted_key("Mallory");
    let v1 = p.bundle(&fixture("fs-probe"), ID, "1.0.0", SECTIONS, &a);
    p.ok(&["install", s(&v1), "--yes"]);
    assert_eq!(
        p.set_secret(ID, "token", "alice-s3cr3t-token")
            .status
            .code(),
        Some(0)
    );
    p.ok(&["config", "set", ID, "region", "eu"]);
    assert_eq!(
        p.call(
            ID,
            "write",
            r#"{"path":"/data/notes.txt","text":"alice's notes"}"#
        ),
        (false, "written".into())
    );
    (p, a, b)
}

#[test]
fn an_update_signed_by_another_trusted_key_is_refused_naming_both_keys() {
    let (p, a, b) = two_publishers();
    let takeover = p.bundle(&fixture("fs-probe"), ID, "1.1.0", SECTIONS, &b);
    let (alice, mallory) = (
        key_id(
            &p,
            &p.bundle(&fixture("fs-probe"), ID, "1.0.1", SECTIONS, &a),
        ),
        key_id(&p, &takeover),
    );

    // The review says so, rated high, and refuses (exit 3).
    let out = p.run(&["review", s(&takeover), "--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let review: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(review["risk"], "high", "{review}");
    assert_eq!(review["signer_change"]["from_key"], alice.as_str());
    assert_eq!(review["signer_change"]["to_key"], mallory.as_str());
    assert_eq!(review["verdict"]["outcome"], "refused");

    // Install refuses it, naming both keys and the command that accepts it.
    let err = p.fails(3, &["install", s(&takeover), "--yes"]);
    assert!(err.contains(&alice) && err.contains(&mallory), "{err}");
    assert!(err.contains(&format!("--accept-signer {mallory}")), "{err}");
    // Alice's version still runs, with her data.
    let info: Value = serde_json::from_str(&p.ok(&["info", ID, "--json"])).unwrap();
    assert_eq!(info["version"], "1.0.0", "{info}");
    assert_eq!(
        p.call(ID, "read", r#"{"path":"/data/notes.txt"}"#),
        (false, "alice's notes".into())
    );

    // Accepting another key is not accepting this one.
    let err = p.fails(
        3,
        &["install", s(&takeover), "--yes", "--accept-signer", &alice],
    );
    assert!(err.contains(&mallory), "{err}");

    // The admin accepts the publisher's new key: installed, and audited as such.
    p.ok(&[
        "install",
        s(&takeover),
        "--yes",
        "--accept-signer",
        &mallory,
    ]);
    let info: Value = serde_json::from_str(&p.ok(&["info", ID, "--json"])).unwrap();
    assert_eq!(info["version"], "1.1.0", "{info}");
    let audit = p.ok(&["audit", "show", "--json", "--plugin", ID]);
    assert!(audit.contains("signer-change"), "{audit}");
    assert!(
        audit.contains(&alice) && audit.contains(&mallory),
        "{audit}"
    );
    // From now on the id is the new key's: the old one is the stranger.
    let back = p.bundle(&fixture("fs-probe"), ID, "1.2.0", SECTIONS, &a);
    p.fails(3, &["install", s(&back), "--yes"]);
}

#[test]
fn removing_a_plugin_removes_its_secrets_config_kv_and_data() {
    let (p, _, b) = two_publishers();
    let out = p.ok(&["remove", ID]);
    assert!(out.contains("removed com.example.probe 1.0.0"), "{out}");
    let home = p.home.path();
    assert!(!home.join(format!("data/{ID}")).exists());
    assert_eq!(p.ok(&["secrets", "list", ID, "--json"]).trim(), "{}");
    assert!(!p.ok(&["config", "list", ID]).contains("eu"));
    // Another publisher installing that id starts from nothing.
    let fresh = p.bundle(&fixture("fs-probe"), ID, "2.0.0", SECTIONS, &b);
    p.ok(&["install", s(&fresh), "--yes"]);
    let (is_error, text) = p.call(ID, "read", r#"{"path":"/data/notes.txt"}"#);
    assert!(is_error && !text.contains("alice"), "{text}");
    let audit = p.ok(&["audit", "show", "--json", "--plugin", ID]);
    assert!(audit.contains("\"kept_data\":false"), "{audit}");
}

#[test]
fn kept_data_passes_only_to_the_same_key_or_an_accepted_one() {
    let (p, a, b) = two_publishers();
    let out = p.ok(&["remove", ID, "--keep-data"]);
    assert!(out.contains("kept"), "{out}");
    // Another publisher's bundle of that id is refused while the data is kept.
    let takeover = p.bundle(&fixture("fs-probe"), ID, "2.0.0", SECTIONS, &b);
    let mallory = key_id(&p, &takeover);
    let err = p.fails(3, &["install", s(&takeover), "--yes"]);
    assert!(err.contains("data kept from its removed version"), "{err}");
    assert!(err.contains(&format!("--accept-signer {mallory}")), "{err}");
    // The same publisher gets it back.
    let again = p.bundle(&fixture("fs-probe"), ID, "1.0.1", SECTIONS, &a);
    p.ok(&["install", s(&again), "--yes"]);
    assert_eq!(
        p.call(ID, "read", r#"{"path":"/data/notes.txt"}"#),
        (false, "alice's notes".into())
    );
    let secrets = p.ok(&["secrets", "list", ID, "--json"]);
    assert!(secrets.contains("token"), "{secrets}");
    // Kept data of a removed plugin can be deleted afterwards too.
    p.ok(&["remove", ID, "--keep-data"]);
    let out = p.ok(&["remove", ID]);
    assert!(out.contains("removed the data kept for it"), "{out}");
    assert!(!p.home.path().join(format!("data/{ID}")).exists());
    p.ok(&["install", s(&takeover), "--yes"]);
}

#[test]
fn data_without_a_record_goes_to_the_first_install_and_remove_deletes_it() {
    // Such as `pincer dev` leaves in the same home.
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("Alice");
    let data = p.home.path().join(format!("data/{ID}"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "from a dev run").unwrap();
    // Not installed, nothing recorded: `remove` deletes it.
    let out = p.ok(&["remove", ID]);
    assert!(out.contains("removed the data kept for it"), "{out}");
    assert!(!data.exists());
    p.fails(2, &["remove", ID]);
    // Made again, it is the first install's.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "from a dev run").unwrap();
    let bundle = p.bundle(&fixture("fs-probe"), ID, "1.0.0", SECTIONS, &key);
    p.ok(&["install", s(&bundle), "--yes"]);
    assert_eq!(
        p.call(ID, "read", r#"{"path":"/data/notes.txt"}"#),
        (false, "from a dev run".into())
    );
}
