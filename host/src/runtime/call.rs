//! Running a call: a fresh instance (or one made ahead of the call) under the
//! plugin's limits, with its capabilities armed for the call, and a trap turned into
//! an audited [`Fault`].

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, Trap, UpdateDeadline};
use wasmtime_wasi::WasiCtxBuilder;

use super::instance::MemoryLimiter;
use super::{CallError, ComponentReport, Fault, InstanceState, LoadReport, MAX_RESOURCES, engine};
use crate::audit::{Audit, Event};
use crate::caps::filesystem::ResolvedMount;
use crate::caps::log::OutputCapture;
use crate::caps::redact::Place;
use crate::caps::{CallClock, Denials, PluginCaps};
use crate::manifest::{Manifest, PluginKind};
use crate::policy::Limits;

/// A loaded plugin, ready to be called.
pub struct Plugin {
    pub(super) manifest: Arc<Manifest>,
    pub(super) audit: Arc<Audit>,
    /// Its capabilities, built from its grant at load.
    pub(super) caps: PluginCaps,
    pub(super) id: Arc<str>,
    pub(super) engine: Engine,
    pub(crate) kind_pre: crate::kinds::KindPre,
    /// A recorder's session instance, kept from start to stop.
    pub(crate) live_recorder: tokio::sync::Mutex<Option<crate::kinds::recording::LiveRecorder>>,
    /// An MCP server instance made ahead of the next tool call (see
    /// [`Plugin::prepare_tool_call`]).
    pub(crate) ready_mcp: std::sync::Mutex<Option<crate::kinds::mcp::ReadyMcp>>,
    pub(super) limits: Limits,
    pub(super) permits: Arc<Semaphore>,
    pub(super) report: ComponentReport,
    pub(super) load: LoadReport,
}

/// A call's instance once the call is over, with the concurrency slot the call took.
/// An instance counts against its plugin's `concurrency` until it is dropped, not
/// only while it runs: a server that keeps spent instances until its answer is
/// written (as `pincer mcp` on stdio does) then holds no more of them than the limit,
/// however many calls a client sends at once, and cannot empty the instance pool that
/// every plugin shares. Dropping it resets the instance's slot in the pool, which
/// costs a little, and then frees the call slot.
pub struct Spent {
    // Fields drop in order: the instance goes back to the pool before the slot does.
    _store: Option<CallStore>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Spent {
    /// A call that made no instance and took no slot.
    pub(crate) fn none() -> Self {
        Spent {
            _store: None,
            _slot: None,
        }
    }
}

/// A store for one call, and what the call needs to explain a fault afterwards.
pub(crate) struct CallStore {
    pub store: Store<InstanceState>,
    stderr: OutputCapture,
    stdout: OutputCapture,
    deadline: Instant,
}

impl Plugin {
    /// The plugin's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The plugin's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The effective limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The resolved mounts.
    pub fn mounts(&self) -> &[ResolvedMount] {
        self.caps.mounts()
    }

    /// The component's audited imports and exports.
    pub fn report(&self) -> &ComponentReport {
        &self.report
    }

    /// How the plugin was loaded.
    pub fn load_report(&self) -> &LoadReport {
        &self.load
    }

    /// What its capabilities denied its calls, once kept ([`Denials::keep`]): for a
    /// developer whose plugin swallowed a denial.
    pub fn denials(&self) -> &Denials {
        self.caps.denials()
    }

    pub(crate) fn mcp_pre(
        &self,
    ) -> Result<&crate::kinds::mcp::McpServerPre<InstanceState>, CallError> {
        match &self.kind_pre {
            crate::kinds::KindPre::Mcp(pre) => Ok(pre),
            _ => Err(self.wrong_kind(PluginKind::McpServer)),
        }
    }

    /// The error for a call that needs a plugin of kind `wanted`.
    pub(crate) fn wrong_kind(&self, wanted: PluginKind) -> CallError {
        CallError::WrongKind {
            plugin: self.id.to_string(),
            kind: self.manifest.plugin.kind,
            wanted,
        }
    }

    /// The error for a host failure while preparing a call.
    pub(crate) fn host_error(&self, e: wasmtime::Error) -> CallError {
        CallError::Host {
            plugin: self.id.to_string(),
            message: format!("{e:#}"),
        }
    }

    /// Run `call` in a fresh instance under the plugin's limits: wait for a free slot
    /// (at most until the deadline), make a store with its own WASI context and memory
    /// limit, and turn a trap into a [`Fault`].
    pub(crate) async fn run<R>(
        &self,
        call: impl AsyncFnOnce(&mut CallStore) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.run_in(None, call).await.0
    }

    /// [`Plugin::run`] in `ready`, a store made ahead of the call and not used by any
    /// other (a new one if `None`). Returns the spent store with the outcome, holding
    /// the call's concurrency slot, so that the caller can drop it (which resets its
    /// memory for the next instance, then frees the slot) after answering.
    pub(crate) async fn run_in<R>(
        &self,
        ready: Option<CallStore>,
        call: impl AsyncFnOnce(&mut CallStore) -> wasmtime::Result<R>,
    ) -> (Result<R, CallError>, Spent) {
        let started = Instant::now();
        let timeout = self.limits.timeout;
        let permit = match tokio::time::timeout(timeout, self.permits.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => permit,
            _ => {
                let busy = CallError::Busy {
                    plugin: self.id.to_string(),
                    limit: self.limits.concurrency,
                    waited_ms: started.elapsed().as_millis() as u64,
                };
                // The instance made ahead took no slot: it is the one spare.
                let spent = Spent {
                    _store: ready,
                    _slot: None,
                };
                return (Err(busy), spent);
            }
        };
        let mut cs = match ready {
            Some(cs) => cs,
            None => match self.new_store() {
                Ok(cs) => cs,
                Err(e) => return (Err(self.host_error(e)), Spent::none()),
            },
        };
        let outcome = self.run_on(&mut cs, call).await;
        let spent = Spent {
            _store: Some(cs),
            _slot: Some(permit),
        };
        (outcome, spent)
    }

    /// Run `call` in `cs` under the plugin's limits, with a deadline that starts now;
    /// a trap or timeout becomes an audited [`Fault`]. The caller holds the plugin's
    /// concurrency slot, or owns an instance no other call can reach.
    pub(crate) async fn run_on<R>(
        &self,
        cs: &mut CallStore,
        call: impl AsyncFnOnce(&mut CallStore) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let timeout = self.limits.timeout;
        self.arm(cs);
        // The epoch callback stops wasm code at the deadline; this outer timeout also
        // covers time spent in host functions.
        let grace = engine::EPOCH_TICK * 20;
        let outcome = tokio::time::timeout(timeout + grace, call(cs)).await;
        let redact = cs.store.data().redact().clone();
        cs.stdout.flush_to_log(&self.id, Place::Stdout, &redact);
        cs.stderr.flush_to_log(&self.id, Place::Stderr, &redact);
        let fault = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if pool_is_full(&e) => {
                tracing::warn!(plugin = %self.id, "no instance slot is free: {e:#}");
                return Err(CallError::HostBusy {
                    plugin: self.id.to_string(),
                    limit: engine::POOL_INSTANCES,
                    message: format!("{e:#}"),
                });
            }
            Ok(Err(e)) => self.classify(cs, e),
            Err(_) => Fault::Timeout {
                limit_ms: timeout.as_millis() as u64,
            },
        };
        let fault = fault.redacted(&redact);
        tracing::warn!(plugin = %self.id, "plugin fault: {fault}");
        if let Err(e) = self.audit.record(
            "host",
            Event::Fault,
            Some(&self.id),
            serde_json::json!({ "fault": &fault, "message": fault.to_string() }),
        ) {
            tracing::error!(plugin = %self.id, "cannot audit the fault: {e}");
        }
        Err(CallError::Fault {
            plugin: self.id.to_string(),
            fault,
        })
    }

    /// A store with its own WASI context and memory limit. Its deadline (for
    /// instantiating in it) is the plugin's timeout from now; [`Plugin::run_in`] sets
    /// the call's own when the call starts.
    pub(crate) fn new_store(&self) -> wasmtime::Result<CallStore> {
        let stdout = OutputCapture::new();
        let stderr = OutputCapture::new();
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        // Files opened in a mount do their I/O on the calling thread, as the mount's
        // directory does (see `caps::filesystem::BLOCK_IN_PLACE`): wasmtime-wasi takes
        // this flag from the context for every file it opens.
        wasi.allow_blocking_current_thread(crate::caps::filesystem::BLOCK_IN_PLACE);
        let clock = CallClock::starting_now(self.limits.timeout);
        let state = InstanceState {
            wasi: wasi.build(),
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            limiter: MemoryLimiter {
                limit: usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX),
                used: 0,
                exceeded: None,
            },
            caps: self.caps.instance(clock),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let mut cs = CallStore {
            store,
            stderr,
            stdout,
            deadline: clock.deadline,
        };
        set_deadline(&mut cs.store, clock.deadline);
        Ok(cs)
    }

    /// Give `cs` a deadline of the plugin's timeout from now, for wasm code, approvals
    /// and HTTP requests alike, and arm its capabilities for the call (a store made
    /// ahead of the call: its plugin asks for its preopens only now).
    fn arm(&self, cs: &mut CallStore) {
        let clock = CallClock::starting_now(self.limits.timeout);
        cs.deadline = clock.deadline;
        self.caps.rearm(&mut cs.store.data_mut().caps, clock);
        set_deadline(&mut cs.store, clock.deadline);
    }

    fn classify(&self, cs: &CallStore, e: wasmtime::Error) -> Fault {
        let limit = self.limits.memory_bytes;
        if let Some(requested) = cs.store.data().limiter.exceeded {
            return Fault::OutOfMemory {
                limit,
                requested: requested as u64,
            };
        }
        if e.chain().any(|c| {
            matches!(
                c.downcast_ref::<wasmtime::component::ResourceTableError>(),
                Some(wasmtime::component::ResourceTableError::Full)
            )
        }) {
            return Fault::TooManyResources {
                limit: MAX_RESOURCES,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Fault::Timeout {
                limit_ms: self.limits.timeout.as_millis() as u64,
            },
            Some(Trap::StackOverflow) => Fault::StackOverflow,
            Some(Trap::UnreachableCodeReached) if cs.stderr.text().contains("panicked at") => {
                Fault::Panic {
                    message: panic_message(&cs.stderr.text()),
                }
            }
            Some(trap) => Fault::Trap {
                message: trap.to_string(),
            },
            None if Instant::now() >= cs.deadline => Fault::Timeout {
                limit_ms: self.limits.timeout.as_millis() as u64,
            },
            None => Fault::Trap {
                message: format!("{e:#}"),
            },
        }
    }
}

/// Run the future `f` to completion from synchronous code, whether or not the caller
/// is inside a tokio runtime: on a scoped thread of its own, with a fresh
/// current-thread runtime (time and I/O enabled), so it never blocks a worker of the
/// caller's runtime nor nests one runtime in another. A panic in `f` is resumed here.
pub fn block_on<F>(f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                // The OS refused a thread's timer or I/O driver: nothing to recover.
                .expect("cannot start a tokio runtime")
                .block_on(f)
        });
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Whether `e` says the pooling allocator had no free slot (of instances, memories,
/// tables or stacks) for a new instance.
fn pool_is_full(e: &wasmtime::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
    })
}

/// Interrupt wasm code in `store` at `deadline`, checking at every epoch tick.
fn set_deadline(store: &mut Store<InstanceState>, deadline: Instant) {
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            // Let other tasks on this thread run, then check again next tick.
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
}

/// The panic message in a Rust guest's stderr: the lines after `panicked at ...:`.
fn panic_message(stderr: &str) -> String {
    let after = stderr
        .split_once("panicked at ")
        .map(|(_, rest)| rest)
        .unwrap_or(stderr);
    let mut lines = after.lines();
    let location = lines.next().unwrap_or("").trim_end_matches(':');
    let message: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note:"))
        .filter(|l| !l.trim().is_empty())
        .collect();
    format!("{} (at {location})", message.join(" / "))
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("id", &self.id)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instance the pool has no slot for is the host's limit, not a plugin fault.
    #[test]
    fn tells_an_exhausted_instance_pool_from_a_trap() {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(1)
            .total_core_instances(1)
            .total_memories(1)
            .total_tables(1)
            .total_stacks(1);
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).unwrap();
        // `(component)`: the empty component's binary.
        let component = wasmtime::component::Component::new(&engine, b"\0asm\x0d\0\x01\0").unwrap();
        let linker = wasmtime::component::Linker::<()>::new(&engine);
        let mut first = Store::new(&engine, ());
        linker.instantiate(&mut first, &component).unwrap();
        let mut second = Store::new(&engine, ());
        let e = linker.instantiate(&mut second, &component).unwrap_err();
        assert!(pool_is_full(&e), "{e:#}");
        drop(first);
        assert!(linker.instantiate(&mut second, &component).is_ok());
        assert!(!pool_is_full(&wasmtime::format_err!(
            "wasm trap: unreachable"
        )));
    }

    #[test]
    fn extracts_the_panic_message_and_location() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:17:9:\nthe fixture panicked on purpose\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr),
            "the fixture panicked on purpose (at src/lib.rs:17:9)"
        );
    }
}
