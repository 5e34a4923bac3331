//! The compile cache: compiled code is loaded only when its HMAC tag checks out. A
//! tampered file, or another component's valid compiled code planted under this one's
//! name, is discarded and recompiled, never run.

use pincer::digest::sha256_hex;
use pincer::runtime::{CacheOutcome, Runtime};
use pincer::store::Home;
use pincer_test_support::{ScratchPlugin, fixture};

fn runtime(home: &std::path::Path) -> Runtime {
    Runtime::new(Home::open_at(home).unwrap()).unwrap()
}

/// A home where the well-behaved fixture was loaded once: its plugin directory and the
/// path of its compiled code in the cache.
fn cached_well_behaved() -> (tempfile::TempDir, ScratchPlugin, std::path::PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let component = fixture("well-behaved");
    let scratch = ScratchPlugin::new(&component, "test.cache", "");
    let rt = runtime(home.path());
    rt.load_manifest(&scratch.manifest(), None).unwrap();
    let cached = rt.cache_file(&sha256_hex(&std::fs::read(&component).unwrap()));
    (home, scratch, cached)
}

/// In `home`: the panicking fixture loaded once (so its authenticated compiled code is
/// cached), and the well-behaved one ready to load. The well-behaved one's plugin and
/// the paths of both cache files.
fn good_and_evil(
    home: &std::path::Path,
) -> (ScratchPlugin, std::path::PathBuf, std::path::PathBuf) {
    let good = fixture("well-behaved");
    let evil = fixture("panic");
    let rt = runtime(home);
    let evil_scratch = ScratchPlugin::new(&evil, "test.evil", "");
    rt.load_manifest(&evil_scratch.manifest(), None).unwrap();
    let evil_cached = rt.cache_file(&sha256_hex(&std::fs::read(&evil).unwrap()));
    let good_cached = rt.cache_file(&sha256_hex(&std::fs::read(&good).unwrap()));
    (
        ScratchPlugin::new(&good, "test.good", ""),
        good_cached,
        evil_cached,
    )
}

#[tokio::test]
async fn loads_compiled_code_from_the_cache_on_the_second_load() {
    let home = tempfile::tempdir().unwrap();
    let scratch = ScratchPlugin::new(&fixture("well-behaved"), "test.cache", "");
    let first = runtime(home.path())
        .load_manifest(&scratch.manifest(), None)
        .unwrap();
    assert_eq!(first.load_report().cache, CacheOutcome::Compiled);
    let second = runtime(home.path())
        .load_manifest(&scratch.manifest(), None)
        .unwrap();
    assert_eq!(second.load_report().cache, CacheOutcome::Hit);
    assert!(!second.call_tool("noop", "{}").await.unwrap().is_error);
}

#[tokio::test]
async fn never_loads_a_tampered_cache_file() {
    let (home, scratch, cached) = cached_well_behaved();

    // Flip one byte in the compiled code.
    let mut bytes = std::fs::read(&cached).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&cached, &bytes).unwrap();

    let rt = runtime(home.path());
    let plugin = rt.load_manifest(&scratch.manifest(), None).unwrap();
    assert_eq!(plugin.load_report().cache, CacheOutcome::Rejected);
    let out = plugin
        .call_tool("echo", r#"{"text":"recompiled"}"#)
        .await
        .unwrap();
    assert!(!out.is_error);
    // The file was replaced by a freshly compiled, authenticated one.
    assert_ne!(std::fs::read(&cached).unwrap(), bytes);
    let again = runtime(home.path())
        .load_manifest(&scratch.manifest(), None)
        .unwrap();
    assert_eq!(again.load_report().cache, CacheOutcome::Hit);
}

#[tokio::test]
async fn never_loads_another_components_code_planted_under_this_name() {
    let home = tempfile::tempdir().unwrap();
    // Valid, authenticated compiled code of the panicking fixture, copied to where
    // the well-behaved fixture's code would be.
    let (scratch, good_cached, evil_cached) = good_and_evil(home.path());
    std::fs::copy(&evil_cached, &good_cached).unwrap();

    let plugin = runtime(home.path())
        .load_manifest(&scratch.manifest(), None)
        .unwrap();
    assert_eq!(plugin.load_report().cache, CacheOutcome::Rejected);
    let tools: Vec<String> = plugin
        .list_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(tools, ["echo", "add", "noop", "count"]);
}

#[tokio::test]
async fn recompiles_a_truncated_or_foreign_cache_file() {
    let (home, scratch, cached) = cached_well_behaved();
    for junk in [&b""[..], b"PINCERC1", b"\x7fELF not a cache file at all"] {
        std::fs::write(&cached, junk).unwrap();
        let plugin = runtime(home.path())
            .load_manifest(&scratch.manifest(), None)
            .unwrap();
        assert_eq!(plugin.load_report().cache, CacheOutcome::Rejected);
    }
}

/// The mappings of this process from unnamed files in `home`'s cache directory.
fn mapped_copies(home: &std::path::Path) -> usize {
    let cache = home.canonicalize().unwrap().join("cache");
    let prefix = format!("{}/#", cache.display());
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|line| line.contains(&prefix) && line.ends_with("(deleted)"))
        .count()
}

#[tokio::test]
async fn runs_cached_code_from_a_private_copy_that_a_changed_cache_file_cannot_reach() {
    let home = tempfile::tempdir().unwrap();
    let (scratch, good_cached, evil_cached) = good_and_evil(home.path());
    runtime(home.path())
        .load_manifest(&scratch.manifest(), None)
        .unwrap();

    let before = mapped_copies(home.path());
    let plugin = runtime(home.path())
        .load_manifest(&scratch.manifest(), None)
        .unwrap();
    assert_eq!(plugin.load_report().cache, CacheOutcome::Hit);
    // The code is mapped from an unnamed file in the cache directory, not copied into
    // the heap and not mapped from the cache file itself...
    assert!(
        mapped_copies(home.path()) > before,
        "no mapping of an unnamed copy in {}:\n{}",
        home.path().display(),
        std::fs::read_to_string("/proc/self/maps").unwrap()
    );
    // ...so rewriting the cache file in place, with authenticated code that panics,
    // changes nothing about what the loaded plugin runs.
    std::fs::write(&good_cached, std::fs::read(&evil_cached).unwrap()).unwrap();
    for _ in 0..3 {
        let out = plugin
            .call_tool("echo", r#"{"text":"still mine"}"#)
            .await
            .unwrap();
        assert!(!out.is_error, "{out:?}");
        assert!(format!("{out:?}").contains("still mine"), "{out:?}");
    }
}
