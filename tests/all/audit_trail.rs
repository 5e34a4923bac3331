//! The audit trail from the attacker's side, through the real binary: cutting the
//! log's tail and deleting its head (no key needed) must not go unnoticed, and a head
//! kept elsewhere catches a log cut back together with its head.

use std::path::Path;

use pincer_test_support::{Pincer, fixture};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A home with a few audited actions in its trail.
fn audited() -> Pincer {
    let p = Pincer::new(env!("CARGO_BIN_EXE_pincer"));
    let key = p.trusted_key("admin");
    for (id, version) in [("com.example.a", "1.0.0"), ("com.example.b", "1.0.0")] {
        let bundle = p.bundle(&fixture("well-behaved"), id, version, "", &key);
        p.ok(&["install", s(&bundle), "--yes"]);
    }
    p.ok(&["remove", "com.example.a"]);
    p
}

fn log(p: &Pincer) -> std::path::PathBuf {
    p.home.path().join("audit/log.jsonl")
}

/// Keep the first `n` lines of the log.
fn cut_to(p: &Pincer, n: usize) {
    let text = std::fs::read_to_string(log(p)).unwrap();
    let kept: String = text.lines().take(n).map(|l| format!("{l}\n")).collect();
    std::fs::write(log(p), kept).unwrap();
}

#[test]
fn a_cut_tail_with_its_head_deleted_fails_verify_until_acknowledged() {
    let p = audited();
    assert!(p.ok(&["audit", "verify"]).starts_with("ok:"));
    cut_to(&p, 2);
    std::fs::remove_file(p.home.path().join("audit/head.json")).unwrap();
    // The next audited action must not heal the chain silently.
    let key = p.trusted_key("other");
    let bundle = p.bundle(&fixture("well-behaved"), "com.example.c", "1.0.0", "", &key);
    p.ok(&["install", s(&bundle), "--yes"]);
    let out = p.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("records after 2 may have been cut off")
            && err.contains("pincer audit acknowledge 3"),
        "{err}"
    );
    // Acknowledging: an audited record, shown by verify from then on.
    p.fails(
        2,
        &["audit", "acknowledge", "1", "--reason", "wrong record"],
    );
    let ack = p.ok(&[
        "audit",
        "acknowledge",
        "3",
        "--reason",
        "compared with the copy of the head in the safe",
    ]);
    assert!(ack.contains("acknowledged"), "{ack}");
    let verified = p.ok(&["audit", "verify"]);
    assert!(
        verified.contains("acknowledged gap: record 3")
            && verified.contains("compared with the copy of the head in the safe"),
        "{verified}"
    );
    let shown = p.ok(&["audit", "show", "--json"]);
    assert!(shown.contains("\"event\":\"audit-acknowledge\""), "{shown}");
}

#[test]
fn a_head_kept_elsewhere_catches_a_log_cut_back_with_its_head() {
    let p = audited();
    let early = p.work.path().join("head-early.json");
    let late = p.work.path().join("head-late.json");
    std::fs::write(&early, p.ok(&["audit", "head"])).unwrap();
    let head_then = std::fs::read(p.home.path().join("audit/head.json")).unwrap();
    let lines_then = std::fs::read_to_string(log(&p)).unwrap().lines().count();
    let key = p.trusted_key("other");
    let bundle = p.bundle(&fixture("well-behaved"), "com.example.c", "1.0.0", "", &key);
    p.ok(&["install", s(&bundle), "--yes"]);
    std::fs::write(&late, p.ok(&["audit", "head"])).unwrap();
    p.ok(&["audit", "verify", "--head", s(&late)]);
    // Cut back, head and all, to before the install: the log alone verifies.
    cut_to(&p, lines_then);
    std::fs::write(p.home.path().join("audit/head.json"), head_then).unwrap();
    p.ok(&["audit", "verify"]);
    p.ok(&["audit", "verify", "--head", s(&early)]);
    let err = p.fails(3, &["audit", "verify", "--head", s(&late)]);
    assert!(err.contains("were cut off the end"), "{err}");
    // A hand-made head is refused, and so is a file that is not one.
    let forged = std::fs::read_to_string(&late)
        .unwrap()
        .replace("\"seq\":", "\"seq\":1");
    std::fs::write(&late, forged).unwrap();
    p.fails(3, &["audit", "verify", "--head", s(&late)]);
    std::fs::write(&late, "not json").unwrap();
    p.fails(2, &["audit", "verify", "--head", s(&late)]);
}
