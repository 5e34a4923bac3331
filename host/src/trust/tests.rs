use std::path::Path;

use super::*;

const MANIFEST: &str = r#"manifest_version = 1

[plugin]
id = "com.example.signed"
name = "Signed"
version = "1.2.0"
kind = "mcp-server"
description = "A plugin for signature tests."
publisher = "Example"

[component]
# The component, next to this manifest.
file = "plugin.wasm"
"#;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    key: SigningKey,
    public: PublisherKey,
}

fn packed() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("manifest.toml"), MANIFEST).unwrap();
    std::fs::write(src.join("plugin.wasm"), b"\0asm not really a component").unwrap();
    let (_, sk, pk) = keygen(&tmp.path().join("author"), None).unwrap();
    let key = SigningKey::load(&sk, || unreachable!("unencrypted")).unwrap();
    let public = PublisherKey::parse(&std::fs::read_to_string(pk).unwrap(), "author.pub").unwrap();
    let dir = tmp.path().join("bundle");
    pack(&src.join("manifest.toml"), None, &key, &dir).unwrap();
    Fixture {
        _tmp: tmp,
        dir,
        key,
        public,
    }
}

fn trusting(key: &PublisherKey) -> TrustStore {
    let mut store = TrustStore::default();
    store.add(key, "Example").unwrap();
    store
}

#[test]
fn key_ids_print_like_minisign_and_parse_back() {
    let id = KeyId::from_bytes([0x1f, 0xe8, 0xb4, 0x42, 0x18, 0x0f, 0x62, 0xe7]);
    assert_eq!(id.to_string(), "E7620F1842B4E81F");
    assert_eq!("e7620f1842b4e81f".parse::<KeyId>().unwrap(), id);
    assert!("E7620F".parse::<KeyId>().is_err());
}

#[test]
fn trusted_comments_bind_plugin_and_version() {
    let c = TrustedComment {
        plugin: "com.example.a".into(),
        version: "1.0.0".into(),
    };
    assert_eq!(TrustedComment::parse(&c.render()), Some(c));
    assert_eq!(TrustedComment::parse("timestamp:1\tfile:x"), None);
}

#[test]
fn pack_pins_the_digest_keeps_comments_and_verifies() {
    let f = packed();
    let text = std::fs::read_to_string(f.dir.join(MANIFEST_FILE)).unwrap();
    assert!(text.contains("# The component, next to this manifest."));
    let bundle = Bundle::read(&f.dir).unwrap();
    let verified = bundle.verify(&trusting(&f.public)).unwrap();
    assert_eq!(verified.key_id, f.key.id);
    assert_eq!(
        bundle.manifest.component.sha256.as_deref(),
        Some(verified.sha256.as_str())
    );
}

#[test]
fn refuses_a_bundle_signed_by_an_unknown_key() {
    let f = packed();
    let other = packed();
    let err = Bundle::read(&f.dir)
        .unwrap()
        .verify(&trusting(&other.public))
        .unwrap_err();
    assert!(matches!(err, TrustError::UnknownKey { .. }), "{err}");
    assert!(err.to_string().contains(&f.key.id.to_string()), "{err}");
    assert!(err.to_string().contains("pincer trust add"), "{err}");
}

#[test]
fn refuses_a_bundle_signed_by_a_revoked_key() {
    let f = packed();
    let mut store = trusting(&f.public);
    store.revoke(f.public.id).unwrap();
    let err = Bundle::read(&f.dir).unwrap().verify(&store).unwrap_err();
    assert!(matches!(err, TrustError::RevokedKey { .. }), "{err}");
    assert!(store.add(&f.public, "Again").is_err());
}

#[test]
fn refuses_a_manifest_changed_after_signing() {
    let f = packed();
    let path = f.dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("A plugin for", "An evil plugin for")).unwrap();
    let err = Bundle::read(&f.dir)
        .unwrap()
        .verify(&trusting(&f.public))
        .unwrap_err();
    assert!(matches!(err, TrustError::BadSignature { .. }), "{err}");
}

#[test]
fn refuses_a_signature_whose_comment_names_another_version() {
    let f = packed();
    let path = f.dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let older = text.replace("version = \"1.2.0\"", "version = \"1.1.0\"");
    std::fs::write(&path, &older).unwrap();
    // A valid signature over these bytes, but bound to another plugin.
    let sig = f
        .key
        .sign(
            older.as_bytes(),
            &TrustedComment {
                plugin: "com.example.signed".into(),
                version: "1.2.0".into(),
            },
        )
        .unwrap();
    std::fs::write(f.dir.join(SIGNATURE_FILE), sig).unwrap();
    let err = Bundle::read(&f.dir)
        .unwrap()
        .verify(&trusting(&f.public))
        .unwrap_err();
    assert!(matches!(err, TrustError::WrongPlugin { .. }), "{err}");
    assert!(
        err.to_string().contains("com.example.signed@1.1.0"),
        "{err}"
    );
}

#[test]
fn refuses_a_component_that_differs_from_the_signed_digest() {
    let f = packed();
    std::fs::write(f.dir.join("plugin.wasm"), b"\0asm another component").unwrap();
    let err = Bundle::read(&f.dir)
        .unwrap()
        .verify(&trusting(&f.public))
        .unwrap_err();
    assert!(matches!(err, TrustError::DigestMismatch { .. }), "{err}");
}

#[test]
fn refuses_an_unsigned_bundle_and_names_dev_mode() {
    let f = packed();
    std::fs::remove_file(f.dir.join(SIGNATURE_FILE)).unwrap();
    let err = Bundle::read(&f.dir)
        .unwrap()
        .verify(&trusting(&f.public))
        .unwrap_err();
    assert!(err.to_string().contains("--dev"), "{err}");
}

#[test]
fn encrypted_keys_need_their_password() {
    let tmp = tempfile::tempdir().unwrap();
    let (id, sk, _) = keygen(&tmp.path().join("k"), Some("correct horse".into())).unwrap();
    let key = SigningKey::load(&sk, || Ok("correct horse".into())).unwrap();
    assert_eq!(key.id, id);
    let err = SigningKey::load(&sk, || Ok("wrong".into())).err().unwrap();
    assert!(err.to_string().contains("password"), "{err}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sk).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(matches!(
        keygen(&tmp.path().join("k"), None),
        Err(TrustError::Exists { .. })
    ));
    let _ = Path::new("");
}
