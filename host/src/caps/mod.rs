//! Capabilities: what a plugin may do beyond computing.
//!
//! One module per capability; each owns its manifest section type, its checks, the
//! state it builds from a plugin's grant at load, its host functions and its
//! `add_to_linker`. A host function reaches its state through a view (the pattern of
//! wasmtime-wasi's `WasiView`): the embedder's store data implements [`CapsView`],
//! which lends the [`InstanceCaps`] of the instance, and each capability's
//! `add_to_linker` picks its own state and the shared [`CallContext`] (plugin id,
//! audit trail, denials, redactor, deadline) out of it. Nothing here knows the
//! runtime's types.
//!
//! Three places know every capability, and only these: [`PluginCaps::new`] (build
//! each from the grant), [`InstanceCaps`] (one field each) and
//! [`add_granted_to_linker`], which links the base set that every plugin gets and then,
//! one by one, the interfaces that the plugin's grant allows. An interface that is not
//! granted is not linked at all, so a component that imports it cannot be instantiated
//! (and the runtime's import audit refuses it earlier, by name).
//! `docs/contributing.md` lists the files that adding a capability touches.

pub mod approval;
pub mod base;
pub mod config;
pub mod denials;
pub mod filesystem;
pub mod http;
pub mod kv;
pub mod log;
pub mod names;
pub mod redact;
pub mod secrets;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::WasiView;

pub use denials::Denials;

use crate::audit::Audit;
use crate::manifest::Manifest;
use crate::policy::Policy;
use crate::policy::grants::GrantSet;
use crate::store::Home;
use crate::vault::Vault;
use approval::Approver;
use filesystem::ResolvedMount;
use redact::{CallRedactor, Redactor};

/// One call's time: when it must end, and the limit it was given. A host function
/// that waits (for the network, for a person) stops waiting early enough for the
/// plugin to act on the outcome.
#[derive(Debug, Clone, Copy)]
pub struct CallClock {
    /// When the call is interrupted.
    pub deadline: Instant,
    /// The plugin's wall-time limit per call.
    pub limit: Duration,
}

impl CallClock {
    /// A clock that has already run out: the state of an instance between calls.
    pub fn expired() -> Self {
        CallClock {
            deadline: Instant::now(),
            limit: Duration::ZERO,
        }
    }

    /// A call with `limit` that starts now.
    pub fn starting_now(limit: Duration) -> Self {
        CallClock {
            deadline: Instant::now() + limit,
            limit,
        }
    }

    /// How long a host function may still wait: the time left less
    /// [`CallClock::reserve`], zero if that is gone.
    pub fn wait_left(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(self.reserve())
    }

    /// What a wait leaves to the plugin to hear the outcome and act on it: a quarter of
    /// the limit, at least 250 ms and at most 2 s, but never more than half the limit
    /// (so a short limit still leaves time to wait). A fixed sliver would be eaten by a
    /// loaded machine's scheduling and an audit write's fsync, and the call would fault
    /// instead of being told the outcome.
    pub fn reserve(&self) -> Duration {
        (self.limit / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(2))
            .min(self.limit / 2)
    }
}

/// Host bindings for the capability interfaces of `pincer:plugin`, generated from the
/// WIT (whose doc comments are the documentation).
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "capabilities",
        path: "../wit/0.1.0",
        imports: {
            // A broken vault is the host's failure, not an answer the plugin can act
            // on: it traps the call (a fault) instead of passing for `not-set`.
            "pincer:plugin/secrets.get": trappable,
            // Only these wait: on the network, and on a person.
            "pincer:plugin/http.fetch": async,
            // A person's answer is awaited without holding a runtime thread.
            "pincer:plugin/approval.ask": async,
        },
    });
}

/// The capabilities a plugin's manifest can ask for, besides the base set. Used to name
/// the manifest section that grants an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// `pincer:plugin/http`.
    Http,
    /// `pincer:plugin/secrets`.
    Secrets,
    /// `pincer:plugin/kv`.
    Kv,
    /// `pincer:plugin/approval`.
    Approval,
    /// `pincer:plugin/config`.
    Config,
}

impl Capability {
    /// The interface's name in `pincer:plugin`.
    pub fn interface(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Secrets => "secrets",
            Capability::Kv => "kv",
            Capability::Approval => "approval",
            Capability::Config => "config",
        }
    }

    /// The manifest section that grants it.
    pub fn section(self) -> &'static str {
        match self {
            Capability::Http => "[capabilities.http]",
            Capability::Secrets => "[capabilities.secrets]",
            Capability::Kv => "[capabilities.kv]",
            Capability::Approval => "[capabilities.approval]",
            Capability::Config => "[capabilities.config]",
        }
    }

    /// Is it requested by `caps`?
    pub fn requested_by(self, caps: &crate::manifest::Capabilities) -> bool {
        match self {
            Capability::Http => caps.http.is_some(),
            Capability::Secrets => caps.secrets.is_some(),
            Capability::Kv => caps.kv.is_some(),
            Capability::Approval => caps.approval.is_some(),
            Capability::Config => caps.config.is_some(),
        }
    }

    /// Every capability, in a fixed order.
    pub const ALL: [Capability; 5] = [
        Capability::Http,
        Capability::Secrets,
        Capability::Kv,
        Capability::Approval,
        Capability::Config,
    ];
}

/// What every capability of one call shares: whose call it is, where it is audited,
/// where denials are noted, what cleans the plugin's text of its secret values, and
/// when the call must end.
#[derive(Clone)]
pub struct CallContext {
    /// The plugin's id.
    pub plugin: Arc<str>,
    /// The audit trail.
    pub audit: Arc<Audit>,
    /// What the plugin's capabilities denied it, once kept ([`Denials::keep`]).
    pub denials: Denials,
    /// Cleans what the plugin writes of its secret values, for this call.
    pub redact: CallRedactor,
    /// The call's time.
    pub clock: CallClock,
    /// The MCP tool being called, if the call is one: approval rules may name it.
    pub tool: Option<Arc<str>>,
    /// Where the call's log lines go besides the host's log, if a front end asked.
    pub log_sink: Option<log::LogSink>,
}

/// What a plugin's capabilities are built from when it loads.
pub struct LoadContext<'a> {
    /// The plugin's id.
    pub plugin: &'a Arc<str>,
    /// Its manifest: the grants in force (an unapproved plugin under review is loaded
    /// with a manifest that asks for nothing).
    pub manifest: &'a Manifest,
    /// The home directory.
    pub home: &'a Home,
    /// The admin's policy.
    pub policy: &'a Policy,
    /// The secrets vault.
    pub vault: &'a Arc<Vault>,
    /// The audit trail.
    pub audit: &'a Arc<Audit>,
    /// Who answers approval requests when a call brings nobody.
    pub approver: &'a Arc<dyn Approver>,
}

impl LoadContext<'_> {
    /// `asked` (a capability setting of the manifest, in bytes) cut to the policy's
    /// `max`, with a warning when it is cut.
    fn capped(&self, what: &str, asked: u64, max: u64) -> u64 {
        let (value, line) = crate::policy::LimitCaps::cap_bytes(what, asked, max);
        if let Some(line) = line {
            tracing::warn!(plugin = %self.plugin, "{line}");
        }
        value
    }
}

/// Why a plugin's capabilities cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    /// A mount cannot be resolved.
    #[error(transparent)]
    Mount(#[from] filesystem::MountError),
    /// The admin's settings cannot be read.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The HTTP client cannot be made.
    #[error("{0}")]
    Http(String),
}

/// A loaded plugin's capabilities, built once from its grant and shared by all its
/// instances.
pub struct PluginCaps {
    plugin: Arc<str>,
    audit: Arc<Audit>,
    denials: Denials,
    redactor: Redactor,
    mounts: Arc<[ResolvedMount]>,
    secrets: secrets::SecretsState,
    config: config::ConfigState,
    kv: kv::KvState,
    approval: approval::ApprovalState,
    http: http::client::HttpState,
}

impl PluginCaps {
    /// Build every capability of the plugin in `load` from its grant: open its mounts,
    /// read its settings, make its HTTP client. A capability it is not granted is
    /// built empty, denying every call.
    pub fn new(load: &LoadContext<'_>) -> Result<Self, CapsError> {
        let grants = GrantSet::of(load.manifest);
        let denials = Denials::default();
        // A plugin that declares no secret has none to redact, and pays nothing.
        let redactor = Redactor::new(
            load.plugin.clone(),
            &grants.secrets,
            load.vault.clone(),
            load.audit.clone(),
        );
        Ok(PluginCaps {
            mounts: filesystem::mounts(load)?.into(),
            secrets: secrets::SecretsState::new(&grants, load, &redactor),
            config: config::ConfigState::new(&grants, load)?,
            kv: kv::KvState::new(&grants, load),
            approval: approval::ApprovalState::new(&grants, load),
            http: http::client::HttpState::new(load)?,
            plugin: load.plugin.clone(),
            audit: load.audit.clone(),
            denials,
            redactor,
        })
    }

    /// The mounts, as opened at load.
    pub fn mounts(&self) -> &[ResolvedMount] {
        &self.mounts
    }

    /// What the capabilities denied the plugin's calls, once kept.
    pub fn denials(&self) -> &Denials {
        &self.denials
    }

    /// The shared context of a call timed by `clock`, with a redactor of its own (each
    /// call audits its own redactions).
    fn call(&self, clock: CallClock) -> CallContext {
        CallContext {
            plugin: self.plugin.clone(),
            audit: self.audit.clone(),
            denials: self.denials.clone(),
            redact: self.redactor.for_call(),
            clock,
            tool: None,
            log_sink: None,
        }
    }

    /// The capabilities of a new instance, for a call timed by `clock`.
    pub fn instance(&self, clock: CallClock) -> InstanceCaps {
        InstanceCaps {
            call: self.call(clock),
            mounts: self.mounts.clone(),
            log: log::LogState::default(),
            secrets: self.secrets.clone(),
            config: self.config.clone(),
            kv: self.kv.clone(),
            approval: self.approval.clone(),
            http: self.http.clone(),
        }
    }

    /// Ready `caps`, made ahead of its call, for the call that starts now with `clock`:
    /// a fresh call context, the plugin's own approver, and its mounts opened again if
    /// one was removed since ([`ResolvedMount::current`]).
    pub fn rearm(&self, caps: &mut InstanceCaps, clock: CallClock) {
        caps.call = self.call(clock);
        caps.approval = self.approval.clone();
        caps.mounts = filesystem::current(&self.mounts);
    }
}

/// The capabilities of one instance: the shared call context and each capability's
/// state.
pub struct InstanceCaps {
    call: CallContext,
    /// The plugin's mounts: this instance's preopens.
    mounts: Arc<[ResolvedMount]>,
    log: log::LogState,
    secrets: secrets::SecretsState,
    config: config::ConfigState,
    kv: kv::KvState,
    approval: approval::ApprovalState,
    http: http::client::HttpState,
}

impl InstanceCaps {
    /// The call's context.
    pub fn call(&self) -> &CallContext {
        &self.call
    }

    /// The call's redactor, for what the host passes on of the plugin's output.
    pub fn redact(&self) -> &CallRedactor {
        &self.call.redact
    }

    /// Make this call a call of the MCP tool `tool` (approval rules may name it),
    /// whose approval requests go to `approver` if the front end brought one.
    pub fn for_tool(&mut self, tool: &str, approver: Option<Arc<dyn Approver>>) {
        self.call.tool = Some(tool.into());
        if let Some(approver) = approver {
            self.approval.approver = approver;
        }
    }

    /// Send this call's log lines to `sink` too (they go to the host's log as always).
    pub fn with_log_sink(&mut self, sink: log::LogSink) {
        self.call.log_sink = Some(sink);
    }

    /// Log calls dropped because the instance went over [`log::MAX_LINES`].
    pub fn log_lines_dropped(&self) -> u32 {
        self.log.dropped()
    }
}

/// A capability's state with its call's context: what its host functions are
/// implemented on.
pub struct View<'a, S> {
    /// The call's shared context.
    pub call: &'a CallContext,
    /// The capability's own state in this instance.
    pub state: &'a mut S,
}

/// Store data that holds an instance's capabilities: what the host functions of
/// `pincer:plugin` and the base set's preopens reach their state through.
pub trait CapsView: Send {
    /// The instance's resource table and capabilities.
    fn caps(&mut self) -> CapsCtxView<'_>;
}

/// The borrow a [`CapsView`] lends.
pub struct CapsCtxView<'a> {
    /// The instance's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
    /// The instance's capabilities.
    pub caps: &'a mut InstanceCaps,
}

/// Link the base set and the granted capability interfaces. `granted` lists the
/// capabilities the plugin's effective grant allows.
pub fn add_granted_to_linker<T: WasiView + CapsView + 'static>(
    linker: &mut Linker<T>,
    granted: &[Capability],
) -> wasmtime::Result<()> {
    base::add_to_linker(linker)?;
    log::add_to_linker(linker)?;
    for cap in granted {
        match cap {
            Capability::Secrets => secrets::add_to_linker(linker)?,
            Capability::Config => config::add_to_linker(linker)?,
            Capability::Kv => kv::add_to_linker(linker)?,
            Capability::Approval => approval::add_to_linker(linker)?,
            Capability::Http => http::client::add_to_linker(linker)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::CallClock;

    #[test]
    fn a_wait_leaves_the_plugin_a_quarter_of_its_limit_within_bounds() {
        let ms = Duration::from_millis;
        let reserve = |limit| CallClock::starting_now(limit).reserve();
        assert_eq!(reserve(ms(400)), ms(200));
        assert_eq!(reserve(ms(1000)), ms(250));
        assert_eq!(reserve(ms(1500)), ms(375));
        assert_eq!(reserve(ms(10_000)), ms(2000));
        assert_eq!(reserve(ms(300_000)), ms(2000));
    }

    #[test]
    fn a_wait_may_use_the_time_left_less_the_reserve_and_never_less_than_nothing() {
        let clock = CallClock::starting_now(Duration::from_secs(8));
        let left = clock.wait_left();
        assert!(
            left <= Duration::from_secs(6) && !left.is_zero(),
            "{left:?}"
        );
        assert_eq!(CallClock::expired().wait_left(), Duration::ZERO);
        // A short limit keeps half of itself for waiting.
        let short = CallClock::starting_now(Duration::from_millis(100));
        assert!(short.wait_left() <= Duration::from_millis(50));
    }
}
