//! Hostile fixtures against the runtime's limits: each fault is stopped, named, and the
//! host goes on answering.

use std::time::{Duration, Instant};

use pincer::runtime::{CallError, Fault, Plugin, Runtime};
use pincer::store::Home;
use pincer_test_support::{ScratchPlugin, fixture};

struct Host {
    _home: tempfile::TempDir,
    runtime: Runtime,
}

fn host() -> Host {
    let home = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(Home::open_at(home.path()).unwrap()).unwrap();
    Host {
        _home: home,
        runtime,
    }
}

fn load(host: &Host, scratch: &ScratchPlugin) -> Plugin {
    host.runtime
        .load_manifest(&scratch.manifest(), None)
        .unwrap()
}

fn fault_of(result: Result<impl std::fmt::Debug, CallError>) -> (String, Fault) {
    match result {
        Err(CallError::Fault { plugin, fault }) => (plugin, fault),
        other => panic!("expected a plugin fault, got {other:?}"),
    }
}

/// The host still works: the faulty plugin lists its tools from a fresh instance, and
/// another plugin answers a call.
async fn host_answers_afterwards(host: &Host, faulty: &Plugin) {
    assert!(!faulty.list_tools().await.unwrap().is_empty());
    let good = ScratchPlugin::new(&fixture("well-behaved"), "test.good", "");
    let good = load(host, &good);
    let out = good
        .call_tool("echo", r#"{"text":"still here"}"#)
        .await
        .unwrap();
    assert!(!out.is_error);
    assert_eq!(
        format!("{:?}", out.content),
        r#"[Text { text: "still here" }]"#
    );
}

#[tokio::test]
async fn stops_an_infinite_loop_at_its_timeout() {
    let host = host();
    let scratch = ScratchPlugin::new(
        &fixture("infinite-loop"),
        "test.spin",
        "[limits]\ntimeout_ms = 300",
    );
    let plugin = load(&host, &scratch);
    let started = Instant::now();
    let (who, fault) = fault_of(plugin.call_tool("spin", "{}").await);
    let took = started.elapsed();
    assert_eq!(who, "test.spin");
    assert_eq!(fault, Fault::Timeout { limit_ms: 300 });
    assert!(
        took >= Duration::from_millis(300),
        "stopped early: {took:?}"
    );
    // An interrupt that did not work would never stop it: any finite bound shows it
    // did, and this one holds on however loaded a machine.
    assert!(took < Duration::from_secs(30), "stopped late: {took:?}");
    host_answers_afterwards(&host, &plugin).await;
}

#[tokio::test]
async fn refuses_a_memory_bomb_at_its_limit() {
    let host = host();
    let scratch = ScratchPlugin::new(
        &fixture("memory-bomb"),
        "test.bomb",
        "[limits]\nmemory_mib = 16",
    );
    let plugin = load(&host, &scratch);
    let (who, fault) = fault_of(plugin.call_tool("allocate", "{}").await);
    assert_eq!(who, "test.bomb");
    match fault {
        Fault::OutOfMemory { limit, requested } => {
            assert_eq!(limit, 16 << 20);
            assert!(requested > limit, "{requested} <= {limit}");
        }
        other => panic!("expected out of memory, got {other:?}"),
    }
    let err = plugin
        .call_tool("allocate", "{}")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test.bomb") && err.contains("ran out of memory"),
        "{err}"
    );
    host_answers_afterwards(&host, &plugin).await;
}

#[tokio::test]
async fn reports_unbounded_recursion_as_a_plugin_fault() {
    let host = host();
    let scratch = ScratchPlugin::new(&fixture("recursion"), "test.recursion", "");
    let plugin = load(&host, &scratch);
    let (who, fault) = fault_of(plugin.call_tool("recurse", "{}").await);
    assert_eq!(who, "test.recursion");
    assert_eq!(fault, Fault::StackOverflow);
    // Rust keeps large locals on a shadow stack in linear memory; running that out
    // wraps below address 0 and traps as an out-of-bounds access.
    let (_, fault) = fault_of(plugin.call_tool("recurse_with_buffers", "{}").await);
    assert!(
        matches!(&fault, Fault::Trap { message } if message.contains("out of bounds memory access")),
        "{fault:?}"
    );
    host_answers_afterwards(&host, &plugin).await;
}

#[tokio::test]
async fn reports_a_panic_with_its_message() {
    let host = host();
    let scratch = ScratchPlugin::new(&fixture("panic"), "test.panic", "");
    let plugin = load(&host, &scratch);
    let (who, fault) = fault_of(plugin.call_tool("explode", "{}").await);
    assert_eq!(who, "test.panic");
    match &fault {
        Fault::Panic { message } => {
            assert!(
                message.contains("the fixture panicked on purpose"),
                "{message}"
            )
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    host_answers_afterwards(&host, &plugin).await;
}

#[tokio::test]
async fn limits_concurrent_instances_per_plugin() {
    let host = host();
    let scratch = ScratchPlugin::new(
        &fixture("infinite-loop"),
        "test.single",
        "[limits]\ntimeout_ms = 1000\nconcurrency = 1",
    );
    let plugin = std::sync::Arc::new(load(&host, &scratch));
    // Neither call can hold the slot before this.
    let before_both = Instant::now();
    let first = {
        let plugin = plugin.clone();
        tokio::spawn(async move { plugin.call_tool("spin", "{}").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = plugin.call_tool("spin", "{}").await;
    let took = before_both.elapsed();
    fault_of(first.await.unwrap());
    // With one slot, the second call either waited for the first to finish and then
    // ran its own full second, or gave up waiting: never ran alongside it. Each runs
    // a full second once it holds the slot, so one after the other they take at least
    // two seconds from before either started, however late the machine ran either.
    match second {
        Err(CallError::Busy { limit: 1, .. }) => {}
        Err(CallError::Fault {
            fault: Fault::Timeout { .. },
            ..
        }) => {
            assert!(
                took >= Duration::from_millis(1990),
                "ran concurrently: both done {took:?} after the first started"
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A spent instance counts against the limit until it is dropped, not only while its
/// call runs: `pincer mcp` keeps one until the call's answer is written, and a burst of
/// calls must not pile up more of them than the limit (the pool is every plugin's).
#[tokio::test]
async fn a_spent_instance_keeps_its_slot_until_it_is_dropped() {
    let host = host();
    let scratch = ScratchPlugin::new(
        &fixture("well-behaved"),
        "test.one",
        "[limits]\ntimeout_ms = 300\nconcurrency = 1",
    );
    let plugin = load(&host, &scratch);
    let args = r#"{"text":"hi"}"#;
    let (first, spent) = plugin.call_tool_ready("echo", args, None, None).await;
    assert_eq!(
        format!("{:?}", first.unwrap().content),
        r#"[Text { text: "hi" }]"#
    );
    match plugin.call_tool("echo", args).await {
        Err(CallError::Busy { limit: 1, .. }) => {}
        other => panic!("a second instance beside the spent one: {other:?}"),
    }
    drop(spent);
    let third = plugin.call_tool("echo", args).await.unwrap();
    assert_eq!(format!("{:?}", third.content), r#"[Text { text: "hi" }]"#);
}

#[tokio::test]
async fn caps_a_manifest_that_asks_for_more_than_the_policy_allows() {
    let host = host();
    let scratch = ScratchPlugin::new(
        &fixture("well-behaved"),
        "test.greedy",
        "[limits]\nmemory_mib = 100000\ntimeout_ms = 99999999",
    );
    let plugin = load(&host, &scratch);
    let caps = host.runtime.policy().limits;
    assert_eq!(
        plugin.limits().memory_bytes,
        u64::from(caps.max_memory_mib) << 20
    );
    assert_eq!(
        plugin.limits().timeout,
        Duration::from_millis(caps.max_timeout_ms)
    );
    assert_eq!(plugin.load_report().capped.len(), 2);
}
