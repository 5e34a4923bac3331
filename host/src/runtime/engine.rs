//! The one wasmtime [`Engine`] a host process uses, and the thread that advances its
//! epoch so that calls can be interrupted on time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of call deadlines, and how often a
/// running plugin yields to other tasks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Instances (and so memories) that may exist at once across all plugins when the
/// pooling allocator is in use.
pub const POOL_INSTANCES: u32 = 256;

/// Wasm stack per call. Unbounded recursion traps when it runs out.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// Bytes of each pooled linear memory kept resident between instances.
const KEEP_RESIDENT: usize = 8 << 20;

/// Make the engine: component model, epoch interruption, async host calls, and the
/// pooling allocator sized for `max_memory_bytes` per instance. If the system refuses
/// the pool's address-space reservation, fall back to on-demand allocation (slower
/// instantiation, same limits).
pub fn new_engine(max_memory_bytes: u64) -> wasmtime::Result<(Engine, bool)> {
    let mut config = base_config()?;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 8)
        .total_memories(POOL_INSTANCES)
        .total_tables(POOL_INSTANCES * 4)
        .total_stacks(POOL_INSTANCES)
        .max_memory_size(usize::try_from(max_memory_bytes).unwrap_or(usize::MAX))
        // Reset the first pages of a freed slot in place instead of giving them back to
        // the kernel: the next call's instance then touches them without page faults.
        // A plugin's stack, heap start and data live there, so every call touches them.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        // Where the kernel can say which pages an instance dirtied (Linux 6.7+), reset
        // only those, not the whole resident region.
        .pagemap_scan(wasmtime::Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&config) {
        Ok(engine) => Ok((engine, true)),
        Err(e) => {
            tracing::warn!("pooling allocator unavailable ({e:#}); using on-demand allocation");
            Ok((Engine::new(&base_config()?)?, false))
        }
    }
}

fn base_config() -> wasmtime::Result<Config> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(MAX_WASM_STACK + (1 << 20))
        .cranelift_opt_level(OptLevel::Speed);
    Ok(config)
}

/// Advances an engine's epoch every [`EPOCH_TICK`] on its own thread, until dropped.
#[derive(Debug)]
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Start ticking `engine`.
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pincer-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
