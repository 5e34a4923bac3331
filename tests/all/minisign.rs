//! Interoperability with the real `minisign` tool (Debian package `minisign`, which
//! `.ci/run` installs): keys and signatures go both ways.

use std::path::Path;
use std::process::Command;

use pincer_test_support::{Pincer, ScratchPlugin, fixture};

const ID: &str = "com.example.interop";

fn minisign(args: &[&str]) -> std::process::Output {
    Command::new("minisign")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `minisign` ({e}): scripts/test installs it (the Debian package `minisign`)"
            )
        })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_key_made_by_minisign_signs_with_pincer() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let (sk, pk) = (p.path("mini.key"), p.path("mini.pub"));
    let out = minisign(&["-G", "-W", "-p", s(&pk), "-s", s(&sk)]);
    assert!(out.status.success(), "{out:?}");
    let bundle = p.bundle(&fixture("well-behaved"), ID, "1.0.0", "", &sk);
    let out = p.ok(&["verify", s(&bundle), "--pubkey", s(&pk)]);
    assert!(out.starts_with("ok:"), "{out}");
    // And an admin can trust that key and install the bundle.
    p.ok(&["trust", "add", s(&pk), "--name", "Minisign user"]);
    p.ok(&["install", s(&bundle), "--yes"]);
    assert!(
        p.ok(&["call", ID, "echo", "--args", r#"{"text":"interop"}"#])
            .contains("interop")
    );
}

#[test]
fn minisign_accepts_a_signature_made_by_pincer() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    for encrypted in [false, true] {
        let name = if encrypted { "enc" } else { "plain" };
        let prefix = p.path(name);
        let password = p.path("password");
        std::fs::write(&password, "a long passphrase\n").unwrap();
        let mut args = vec!["keygen", "--out", s(&prefix)];
        if encrypted {
            args.extend(["--password-file", s(&password)]);
        } else {
            args.push("--unencrypted");
        }
        p.ok(&args);
        let scratch = ScratchPlugin::new(&fixture("well-behaved"), ID, "");
        let manifest = scratch.manifest();
        let bundle = p.path(&format!("bundle-{name}"));
        let key = p.path(&format!("{name}.key"));
        let mut args = vec!["pack", s(&manifest), "--key", s(&key), "--out", s(&bundle)];
        if encrypted {
            args.extend(["--password-file", s(&password)]);
        }
        p.ok(&args);
        let out = minisign(&[
            "-V",
            "-p",
            s(&p.path(&format!("{name}.pub"))),
            "-m",
            s(&bundle.join("manifest.toml")),
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "minisign -V refused: {out:?}");
        assert!(
            text.contains("Signature and comment signature verified")
                && text.contains(&format!("plugin:{ID}"))
                && text.contains("version:1.0.0"),
            "{text}"
        );
        // minisign -H insists on a prehashed signature, which Pincer makes.
        let out = minisign(&[
            "-V",
            "-H",
            "-p",
            s(&p.path(&format!("{name}.pub"))),
            "-m",
            s(&bundle.join("manifest.toml")),
        ]);
        assert!(out.status.success(), "{out:?}");
    }
}

#[test]
fn a_signature_made_by_minisign_verifies_in_pincer_only_when_its_comment_binds_the_plugin() {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let (sk, pk) = (p.path("mini.key"), p.path("mini.pub"));
    assert!(
        minisign(&["-G", "-W", "-p", s(&pk), "-s", s(&sk)])
            .status
            .success()
    );
    let bundle = p.bundle(&fixture("well-behaved"), ID, "1.0.0", "", &sk);
    let manifest = bundle.join("manifest.toml");
    // Re-sign with minisign itself, binding the plugin the way Pincer does.
    let comment = format!("timestamp:0\tplugin:{ID}\tversion:1.0.0");
    let out = minisign(&["-S", "-W", "-s", s(&sk), "-m", s(&manifest), "-t", &comment]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        p.ok(&["verify", s(&bundle), "--pubkey", s(&pk)])
            .starts_with("ok:")
    );
    // minisign's default comment binds nothing: refused, saying what was expected.
    assert!(
        minisign(&["-S", "-W", "-s", s(&sk), "-m", s(&manifest)])
            .status
            .success()
    );
    let err = p.fails(3, &["verify", s(&bundle), "--pubkey", s(&pk)]);
    assert!(
        err.contains("trusted comment") && err.contains(&format!("{ID}@1.0.0")),
        "{err}"
    );
    // A comment naming another plugin is refused too.
    let other = "timestamp:0\tplugin:com.example.other\tversion:1.0.0";
    assert!(
        minisign(&["-S", "-W", "-s", s(&sk), "-m", s(&manifest), "-t", other])
            .status
            .success()
    );
    let err = p.fails(3, &["verify", s(&bundle), "--pubkey", s(&pk)]);
    assert!(err.contains("com.example.other@1.0.0"), "{err}");
}
