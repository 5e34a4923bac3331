//! The runtime: one engine, the compile cache, and loaded plugins that run each call in
//! a fresh, isolated instance under memory, time and concurrency limits.
//!
//! Loading a plugin checks, in order: the component's digest against its manifest,
//! that it compiles (or loads from the authenticated cache), that it exports its kind's
//! world, that every import is granted (the import audit), and that every mount
//! resolves. Any failure refuses the plugin with the reason; nothing runs before all of
//! them pass.
//!
//! A call that traps, runs out of time or memory becomes a [`Fault`] naming the plugin
//! and the reason. The store and instance are dropped; the host, the plugin's next
//! call, and other plugins are unaffected.
//!
//! The runtime composes capabilities without naming a granted one: it builds a
//! plugin's [`PluginCaps`](crate::caps::PluginCaps) at load, links through
//! [`caps::add_granted_to_linker`](crate::caps::add_granted_to_linker) and arms an
//! instance's capabilities per call. Of the capability modules it uses only the base
//! set's output capture (stdout and stderr) and the mounts' type, to report them.
//!
//! Files: `error.rs` (why a load or a call fails), `load.rs` (verifying, checking and
//! linking a plugin), `instance.rs` (what one store holds, its memory limit),
//! `call.rs` (running a call in an instance, and classifying its fault), `imports.rs`
//! (the import audit), `cache.rs` (the authenticated compile cache), `engine.rs` (the
//! engine's configuration and epoch ticker).

pub mod cache;
mod call;
pub mod engine;
mod error;
pub mod imports;
mod instance;
mod load;

use std::sync::Arc;

use wasmtime::Engine;

use crate::audit::Audit;
use crate::caps::approval::{Approver, NoApprover};
use crate::policy::Policy;
use crate::store::Home;
use crate::vault::Vault;

pub use cache::{CacheOutcome, CompileCache};
pub(crate) use call::CallStore;
pub use call::{Plugin, Spent, block_on};
pub use error::{CallError, Fault, LoadError};
pub use imports::{ComponentReport, ImportProblem};
pub use instance::{InstanceState, MAX_RESOURCES};
pub use load::{Checked, LoadReport, release_freed_memory};

/// The runtime of one host process.
pub struct Runtime {
    engine: Engine,
    audit: Arc<Audit>,
    vault: Arc<Vault>,
    approver: Arc<dyn Approver>,
    cache: CompileCache,
    home: Home,
    policy: Policy,
    pooling: bool,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    /// A runtime on `home`, with its policy.
    pub fn new(home: Home) -> Result<Self, LoadError> {
        let policy = Policy::load(&home)?;
        let max_memory = u64::from(policy.limits.max_memory_mib) << 20;
        let (engine, pooling) =
            engine::new_engine(max_memory).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let cache = CompileCache::open(&home, &engine)?;
        let ticker = engine::EpochTicker::start(&engine);
        let audit = Arc::new(Audit::open(&home)?);
        let vault = Arc::new(Vault::open(&home)?);
        Ok(Runtime {
            engine,
            audit,
            vault,
            approver: Arc::new(NoApprover),
            cache,
            home,
            policy,
            pooling,
            _ticker: ticker,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The home directory.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Answer plugins' `ask` approval requests with `approver` (the front end's way to
    /// reach a person). Without one, every `ask` is rejected at once.
    pub fn with_approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = approver;
        self
    }

    /// The audit trail.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The admin policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.pooling
    }
}
