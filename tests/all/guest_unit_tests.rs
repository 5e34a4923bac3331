//! The guests' own unit tests and doctests (the SDK and the reference plugins, a cargo
//! workspace of their own in `plugins/`), run natively from here, so that the README's
//! test command, and so CI, runs them too.

use std::process::Command;

use pincer_test_support::repo_dir;

/// The crates of `plugins/` that have tests of their own, each of which must report
/// at least one passing test: a suite that stopped running would prove nothing.
const TESTED: [&str; 7] = [
    "pincer_sdk",
    "files",
    "fetch",
    "remote",
    "chat",
    "recorder",
    "viewer",
];

#[test]
fn the_sdk_and_the_reference_plugins_pass_their_own_tests() {
    let repo = repo_dir();
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["test", "--locked", "--workspace", "--manifest-path"])
        .arg(repo.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(repo.join("target/guests-native"))
        // Settings meant for the host's test build must not leak into this one.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("running cargo test in plugins/");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    // cargo prints "Running unittests src/lib.rs (.../deps/NAME-HASH)" (or
    // "Doc-tests NAME") on stderr and each suite's "test result" on stdout, in order.
    let suites: Vec<String> = stderr
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            if let Some(rest) = l.strip_prefix("Doc-tests ") {
                return Some(format!("{rest} (doc)"));
            }
            let deps = l
                .strip_prefix("Running unittests ")?
                .split("/deps/")
                .nth(1)?;
            Some(deps.rsplit_once('-')?.0.to_owned())
        })
        .collect();
    let passed: Vec<usize> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .map(|r| r.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(suites.len(), passed.len(), "{stdout}\n{stderr}");
    for name in TESTED {
        let ran = suites
            .iter()
            .zip(&passed)
            .find(|(suite, _)| *suite == name)
            .map(|(_, n)| *n);
        assert!(
            ran.is_some_and(|n| n > 0),
            "the tests of `{name}` did not run ({ran:?}):\n{stdout}\n{stderr}"
        );
    }
    eprintln!("{} guest tests passed", passed.iter().sum::<usize>());
}
