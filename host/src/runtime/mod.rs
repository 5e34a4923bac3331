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

pub mod cache;
pub mod engine;
pub mod imports;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::audit::{Audit, Event};
use crate::caps::approval::{ApprovalState, Approver, NoApprover};
use crate::caps::config::{ConfigError, ConfigState, ConfigStore};
use crate::caps::filesystem::{MountError, ResolvedMount, resolve_mounts};
use crate::caps::http::HttpRules;
use crate::caps::http::client::{HttpClient, HttpState};
use crate::caps::kv::{KvState, KvStore};
use crate::caps::log::{LogState, OutputCapture};
use crate::caps::redact::{CallRedactor, Place, Redactor};
use crate::caps::secrets::SecretsState;
use crate::caps::{CallClock, Denials};
use crate::manifest::{Manifest, ManifestError, PluginKind};
use crate::policy::grants::GrantSet;
use crate::policy::{LimitCaps, Limits, Policy, PolicyError};
use crate::store::plugins::PluginStore;
use crate::store::{Home, HomeError};
use crate::trust::{Bundle, TrustStore};
use crate::vault::Vault;

pub use cache::{CacheOutcome, CompileCache, sha256_hex};
pub use imports::{ComponentReport, ImportProblem};

/// Per-instance state: everything one call's store holds.
pub struct InstanceState {
    wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// The plugin's mounts, opened at load: this instance's preopens.
    pub(crate) mounts: Arc<[ResolvedMount]>,
    limiter: MemoryLimiter,
    pub(crate) log: LogState,
    pub(crate) secrets: SecretsState,
    pub(crate) config: ConfigState,
    pub(crate) kv: KvState,
    pub(crate) approval: ApprovalState,
    pub(crate) http: HttpState,
    /// Cleans what the plugin writes of its secret values, for this call.
    pub(crate) redact: CallRedactor,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Enforces a plugin's memory limit across all of an instance's memories, and records
/// the request that went over it so the fault can say so.
struct MemoryLimiter {
    limit: usize,
    used: usize,
    exceeded: Option<usize>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used - current.min(self.used) + desired;
        if total > self.limit {
            // An exhausted limit is a trap, not a value: the plugin cannot recover.
            self.exceeded = Some(total);
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded",
                self.limit
            ));
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Why a plugin was refused at load time.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest is malformed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The admin policy is malformed.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The component file cannot be read.
    #[error("plugin `{plugin}`: cannot read component {}: {source}", path.display())]
    ComponentUnreadable {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The component's digest differs from the manifest's.
    #[error(
        "plugin `{plugin}`: component {} has SHA-256 {found}, but the manifest says {expected}; the file was changed or the manifest is stale (`pincer pack` rewrites it)",
        path.display()
    )]
    DigestMismatch {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// The manifest's digest.
        expected: String,
        /// The file's digest.
        found: String,
    },
    /// The file is not a valid component.
    #[error("plugin `{plugin}`: {} is not a valid WebAssembly component: {message}", path.display())]
    InvalidComponent {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// What wasmtime said.
        message: String,
    },
    /// The component does not export its kind's world.
    #[error(
        "plugin `{plugin}` is declared as kind `{kind}` but its component does not export `{export}@0.1.x`; build it against the `{kind}` world of pincer:plugin"
    )]
    WrongKind {
        /// The plugin.
        plugin: String,
        /// The declared kind.
        kind: PluginKind,
        /// The missing export.
        export: &'static str,
    },
    /// Imports exceed the grants.
    #[error("plugin `{plugin}` is refused before it runs:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Imports {
        /// The plugin.
        plugin: String,
        /// Each offending import.
        problems: Vec<ImportProblem>,
    },
    /// A mount cannot be resolved.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// No plugin with this id is installed.
    #[error(
        "plugin `{plugin}` is not installed (see `pincer list`; install it with `pincer install BUNDLE`)"
    )]
    NotInstalled {
        /// The plugin id.
        plugin: String,
    },
    /// The installed bundle no longer verifies (files changed, key revoked...).
    #[error(
        "installed plugin `{plugin}` is refused: {source}. If the publisher's bundle is intact, `pincer install BUNDLE` replaces the damaged copy"
    )]
    Verify {
        /// The plugin.
        plugin: String,
        /// Which check failed.
        source: crate::trust::TrustError,
    },
    /// The installed bundle's grants are not the approved ones.
    #[error("installed plugin `{plugin}` is refused: {why}; reinstall it with `pincer install`")]
    NotApproved {
        /// The plugin.
        plugin: String,
        /// Why.
        why: String,
    },
    /// The plugin store is damaged.
    #[error(transparent)]
    Store(#[from] crate::store::plugins::StoreError),
    /// The audit trail failed.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// The secrets vault cannot be opened.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// The admin's settings cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The wasmtime engine could not be configured on this system.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
    /// Linking failed (a host bug or an import the audit missed).
    #[error("plugin `{plugin}`: cannot link the component: {message}")]
    Link {
        /// The plugin.
        plugin: String,
        /// What wasmtime said.
        message: String,
    },
}

/// What went wrong inside a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// The call ran past its wall-time limit and was interrupted.
    #[error("timed out after {limit_ms} ms (the plugin's time limit) and was stopped")]
    Timeout {
        /// The limit.
        limit_ms: u64,
    },
    /// The plugin asked for more memory than its limit.
    #[error("ran out of memory: it asked for {requested} bytes, over its limit of {limit} bytes")]
    OutOfMemory {
        /// The limit in bytes.
        limit: u64,
        /// The total it asked for.
        requested: u64,
    },
    /// The wasm stack ran out (usually unbounded recursion).
    #[error("exhausted its call stack (unbounded recursion?)")]
    StackOverflow,
    /// The plugin panicked.
    #[error("panicked: {message}")]
    Panic {
        /// The panic message from its stderr.
        message: String,
    },
    /// The plugin held more resources at once (open files and directories, streams)
    /// than an instance may.
    #[error(
        "held more than {limit} open resources at once (files, directories, streams) and was stopped"
    )]
    TooManyResources {
        /// The limit.
        limit: usize,
    },
    /// Any other trap.
    #[error("trapped: {message}")]
    Trap {
        /// What wasmtime said.
        message: String,
    },
}

/// Why a call produced no result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin faulted; it is still loaded and its next call starts afresh.
    #[error("plugin `{plugin}` {fault}")]
    Fault {
        /// The plugin.
        plugin: String,
        /// What happened.
        fault: Fault,
    },
    /// Every instance slot stayed busy until the call's deadline.
    #[error(
        "plugin `{plugin}` is busy: all {limit} of its instances stayed in use for {waited_ms} ms; raise `concurrency` in its [limits] or retry"
    )]
    Busy {
        /// The plugin.
        plugin: String,
        /// Its concurrency limit.
        limit: u32,
        /// How long the call waited.
        waited_ms: u64,
    },
    /// The plugin is of another kind.
    #[error("plugin `{plugin}` is a `{kind}` plugin, not a `{wanted}` plugin")]
    WrongKind {
        /// The plugin.
        plugin: String,
        /// Its kind.
        kind: PluginKind,
        /// The kind the call needs.
        wanted: PluginKind,
    },
    /// The tool does not exist.
    #[error("plugin `{plugin}` has no tool `{tool}`")]
    UnknownTool {
        /// The plugin.
        plugin: String,
        /// The tool.
        tool: String,
    },
    /// The arguments were refused.
    #[error("plugin `{plugin}` refused the arguments for `{tool}`: {message}")]
    InvalidArguments {
        /// The plugin.
        plugin: String,
        /// The tool.
        tool: String,
        /// Why.
        message: String,
    },
    /// A host-side failure that is not the plugin's fault.
    #[error("plugin `{plugin}`: host error: {message}")]
    Host {
        /// The plugin.
        plugin: String,
        /// What failed.
        message: String,
    },
}

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

/// How a plugin was loaded, for the CLI to report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    /// The component's SHA-256.
    pub sha256: String,
    /// Whether the compiled code came from the cache.
    pub cache: CacheOutcome,
    /// How long compiling or loading took.
    pub load_ms: f64,
    /// The effective limits.
    pub limits: Limits,
    /// Limit requests that the policy cut down.
    pub capped: Vec<String>,
}

/// A component that passed [`Runtime::check`].
pub struct Checked {
    /// The compiled component.
    pub component: Component,
    /// Its imports and exports.
    pub report: ComponentReport,
    /// Its SHA-256.
    pub sha256: String,
    /// Whether the compiled code came from the cache.
    pub cache: CacheOutcome,
    /// How long compiling or loading took, in milliseconds.
    pub load_ms: f64,
}

/// A loaded plugin, ready to be called.
pub struct Plugin {
    manifest: Arc<Manifest>,
    audit: Arc<Audit>,
    secrets: SecretsState,
    config: ConfigState,
    kv: KvState,
    approval: ApprovalState,
    http: HttpState,
    denials: Denials,
    redactor: Redactor,
    id: Arc<str>,
    engine: Engine,
    pub(crate) kind_pre: crate::kinds::KindPre,
    /// A recorder's session instance, kept from start to stop.
    pub(crate) live_recorder: tokio::sync::Mutex<Option<crate::kinds::recording::LiveRecorder>>,
    /// An MCP server instance made ahead of the next tool call (see
    /// [`Plugin::prepare_tool_call`]).
    pub(crate) ready_mcp: std::sync::Mutex<Option<crate::kinds::mcp::ReadyMcp>>,
    mounts: Arc<[ResolvedMount]>,
    limits: Limits,
    permits: Arc<Semaphore>,
    report: ComponentReport,
    load: LoadReport,
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

    /// Load the installed plugin `id`, verifying it again first: its bundle is signed
    /// by a key that is still trusted, the component has the signed digest, and the
    /// admin's approval covers exactly the grants its manifest asks for. A refusal is
    /// audited.
    pub fn load_installed(&self, id: &str) -> Result<Plugin, LoadError> {
        let result = self
            .verify_installed(id)
            .and_then(|(bundle, sha256, started)| {
                let path = bundle.component_path();
                let checked = self.check_digested(
                    &bundle.manifest,
                    &bundle.component,
                    &path,
                    sha256,
                    started,
                )?;
                self.link(bundle.manifest, checked)
            });
        if let Err(e) = &result
            && !matches!(e, LoadError::NotInstalled { .. })
        {
            self.audit_refusal(id, e);
        }
        result
    }

    fn audit_refusal(&self, id: &str, e: &LoadError) {
        let check = match e {
            LoadError::Verify { source, .. } => source.check(),
            LoadError::NotApproved { .. } => "approval",
            _ => "load",
        };
        if let Err(err) = self.audit.record(
            "host",
            Event::LoadRefused,
            Some(id),
            serde_json::json!({ "check": check, "reason": e.to_string() }),
        ) {
            tracing::error!(plugin = %id, "cannot audit the load refusal: {err}");
        }
    }

    /// The installed bundle of `id`, verified; its component's SHA-256; when the
    /// verification started.
    fn verify_installed(&self, id: &str) -> Result<(Bundle, String, Instant), LoadError> {
        let started = Instant::now();
        let store = PluginStore::new(&self.home);
        // No install may swap the bundle out while it is read.
        let _lock = store.lock_shared()?;
        let installed = store.get(id)?.ok_or_else(|| LoadError::NotInstalled {
            plugin: id.to_owned(),
        })?;
        let slot = &installed.active;
        let verify_err = |source| LoadError::Verify {
            plugin: id.to_owned(),
            source,
        };
        let bundle = store.read_slot(id, slot).map_err(verify_err)?;
        let trust = TrustStore::load(&self.home).map_err(verify_err)?;
        let verified = bundle.verify(&trust).map_err(verify_err)?;
        let not_approved = |why: String| LoadError::NotApproved {
            plugin: id.to_owned(),
            why,
        };
        if bundle.manifest.plugin.id.as_str() != id || verified.sha256 != slot.sha256 {
            return Err(not_approved(format!(
                "the stored bundle is not the one that was installed (component {}, expected {})",
                verified.sha256, slot.sha256
            )));
        }
        let digest = GrantSet::of(&bundle.manifest).digest();
        match &slot.approval {
            Some(a) if a.grants_digest == digest => {}
            Some(a) => {
                return Err(not_approved(format!(
                    "its grants (digest {digest}) are not the ones an admin approved ({})",
                    a.grants_digest
                )));
            }
            None => return Err(not_approved("no admin approved its grants".into())),
        }
        Ok((bundle, verified.sha256, started))
    }

    /// The admin policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Compile (or load from the cache) the component in `wasm`.
    pub fn component(&self, wasm: &[u8]) -> wasmtime::Result<(Component, CacheOutcome, String)> {
        let sha256 = sha256_hex(wasm);
        let (component, outcome) =
            self.cache
                .load_or_compile(&self.home, &self.engine, wasm, &sha256)?;
        Ok((component, outcome, sha256))
    }

    /// The cache file that holds the compiled form of the component with `sha256`.
    pub fn cache_file(&self, sha256: &str) -> PathBuf {
        self.home.join(self.cache.file_for(sha256))
    }

    /// Load the plugin described by the manifest at `manifest_path`. Its component is
    /// `component_override` if given (development builds), else the manifest's
    /// `[component] file`, relative to the manifest.
    pub fn load_manifest(
        &self,
        manifest_path: &Path,
        component_override: Option<&Path>,
    ) -> Result<Plugin, LoadError> {
        let manifest = Manifest::load(manifest_path)?;
        let component_path = match component_override {
            Some(p) => p.to_path_buf(),
            None => manifest_path
                .parent()
                .unwrap_or(Path::new("."))
                .join(&manifest.component.file),
        };
        self.load(manifest, &component_path)
    }

    /// Load a plugin from its checked manifest and component file.
    pub fn load(&self, manifest: Manifest, component_path: &Path) -> Result<Plugin, LoadError> {
        let wasm =
            std::fs::read(component_path).map_err(|source| LoadError::ComponentUnreadable {
                plugin: manifest.plugin.id.to_string(),
                path: component_path.to_path_buf(),
                source,
            })?;
        self.load_bytes(manifest, &wasm, component_path)
    }

    /// Check a component against its manifest without running it: its digest (when the
    /// manifest pins one), that it compiles (through the authenticated cache, so this
    /// also precompiles it), its imports against the grants, and its world against the
    /// kind. `path` is only used in messages.
    pub fn check(
        &self,
        manifest: &Manifest,
        wasm: &[u8],
        path: &Path,
    ) -> Result<Checked, LoadError> {
        let started = Instant::now();
        let sha256 = sha256_hex(wasm);
        if let Some(expected) = &manifest.component.sha256
            && *expected != sha256
        {
            return Err(LoadError::DigestMismatch {
                plugin: manifest.plugin.id.to_string(),
                path: path.to_path_buf(),
                expected: expected.clone(),
                found: sha256,
            });
        }
        self.check_digested(manifest, wasm, path, sha256, started)
    }

    /// [`check`](Self::check) for a component whose SHA-256 is already known to be
    /// `sha256` (an installed bundle, just verified).
    fn check_digested(
        &self,
        manifest: &Manifest,
        wasm: &[u8],
        path: &Path,
        sha256: String,
        started: Instant,
    ) -> Result<Checked, LoadError> {
        let plugin = manifest.plugin.id.to_string();
        let (component, cache) = self
            .cache
            .load_or_compile(&self.home, &self.engine, wasm, &sha256)
            .map_err(|e| LoadError::InvalidComponent {
                plugin: plugin.clone(),
                path: path.to_path_buf(),
                message: format!("{e:#}"),
            })?;
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;

        let report = ComponentReport::of(&component, &self.engine);
        let problems = report.problems(&manifest.capabilities);
        if !problems.is_empty() {
            return Err(LoadError::Imports { plugin, problems });
        }
        let kind = manifest.plugin.kind;
        if report.world != Some(kind) {
            return Err(LoadError::WrongKind {
                plugin,
                kind,
                export: kind.export_interface(),
            });
        }
        Ok(Checked {
            component,
            report,
            sha256,
            cache,
            load_ms,
        })
    }

    /// Load a plugin from its checked manifest and the component's bytes; `path` is
    /// only used in messages.
    pub fn load_bytes(
        &self,
        manifest: Manifest,
        wasm: &[u8],
        path: &Path,
    ) -> Result<Plugin, LoadError> {
        let checked = self.check(&manifest, wasm, path)?;
        self.link(manifest, checked)
    }

    /// Load a plugin for review, before anyone approved it: the same checks as
    /// [`load_bytes`](Self::load_bytes) against its real manifest, then linked as if
    /// its manifest asked for nothing. The interfaces it imports are linked, so it
    /// instantiates, but every call into them is denied: no mounts, no HTTP client, no
    /// secret names, no config keys, no key-value store, no approval actions. Its
    /// limits are its own, capped by the policy. This is how `pincer review` lists an
    /// `mcp-server`'s tools without letting code nobody approved reach secrets, files
    /// or the network, even when an installed version's secrets are in the vault.
    pub fn load_for_review(
        &self,
        manifest: Manifest,
        wasm: &[u8],
        path: &Path,
    ) -> Result<Plugin, LoadError> {
        let checked = self.check(&manifest, wasm, path)?;
        let denied = Manifest {
            capabilities: Default::default(),
            ..manifest
        };
        self.link(denied, checked)
    }

    /// Resolve the mounts of a checked component, link it and prepare its instances.
    fn link(&self, manifest: Manifest, checked: Checked) -> Result<Plugin, LoadError> {
        let plugin = manifest.plugin.id.to_string();
        let Checked {
            component,
            report,
            sha256,
            cache,
            load_ms,
        } = checked;
        let kind = manifest.plugin.kind;
        let mounts = match &manifest.capabilities.filesystem {
            Some(grant) => resolve_mounts(grant, &manifest.plugin.id, &self.home, &self.policy)?,
            None => Vec::new(),
        };
        let capped = self.policy.limits.apply(&manifest.limits);
        for line in &capped.capped {
            tracing::warn!(plugin = %plugin, "{line}");
        }

        let link_err = |e: wasmtime::Error| LoadError::Link {
            plugin: plugin.clone(),
            message: format!("{e:#}"),
        };
        let mut linker = Linker::new(&self.engine);
        crate::caps::add_granted_to_linker(&mut linker, &report.capabilities())
            .map_err(link_err)?;
        let pre = linker.instantiate_pre(&component).map_err(link_err)?;
        use crate::kinds::{KindPre, chat, mcp, recording};
        let kind_pre = match kind {
            PluginKind::McpServer => KindPre::Mcp(mcp::McpServerPre::new(pre).map_err(link_err)?),
            PluginKind::Chat => KindPre::Chat(chat::ChatPre::new(pre).map_err(link_err)?),
            PluginKind::Recorder => {
                KindPre::Recorder(recording::recorder::RecorderPre::new(pre).map_err(link_err)?)
            }
            PluginKind::Viewer => {
                KindPre::Viewer(recording::viewer::ViewerPre::new(pre).map_err(link_err)?)
            }
        };
        let limits = capped.limits;
        let id: Arc<str> = plugin.as_str().into();
        let grants = GrantSet::of(&manifest);
        let denials = Denials::default();
        // A plugin that declares no secret has none to redact, and pays nothing.
        let redactor = Redactor::new(
            id.clone(),
            &grants.secrets,
            self.vault.clone(),
            self.audit.clone(),
        );
        let secrets = SecretsState::new(
            id.clone(),
            grants.secrets,
            self.vault.clone(),
            self.audit.clone(),
            denials.clone(),
            redactor.clone(),
        );
        // Only a plugin that declares config keys costs a read of the settings file.
        let config_values = if grants.config_keys.is_empty() {
            Default::default()
        } else {
            ConfigStore::load(&self.home)?.granted(&id, &grants.config_keys)
        };
        let config = ConfigState::new(
            id.clone(),
            grants.config_keys,
            config_values,
            denials.clone(),
        );
        let caps = &self.policy.limits;
        // A capability setting above the policy's cap is cut to it, with a warning.
        let cap_setting = |what: &str, asked: u64, max: u64| {
            let (value, line) = LimitCaps::cap_bytes(what, asked, max);
            if let Some(line) = line {
                tracing::warn!(plugin = %id, "{line}");
            }
            value
        };
        let kv = match grants.kv_quota_bytes {
            Some(asked) => KvState::new(
                Arc::new(KvStore::new(self.home.join(format!("kv/{id}.sqlite")))),
                cap_setting("quota_bytes", asked, caps.max_kv_quota_bytes),
                denials.clone(),
            ),
            None => KvState::none(denials.clone()),
        };
        let approval = ApprovalState::new(
            id.clone(),
            grants.approval_actions,
            self.policy.approvals.get(&*id).cloned().unwrap_or_default(),
            self.approver.clone(),
            self.audit.clone(),
            denials.clone(),
        );
        let http_client = match &manifest.capabilities.http {
            Some(grant) => {
                let allow_private = self
                    .policy
                    .http
                    .get(&*id)
                    .is_some_and(|p| p.allow_private_networks);
                let mut rules = HttpRules::new(grant, allow_private);
                rules.max_response_bytes = cap_setting(
                    "max_response_bytes",
                    rules.max_response_bytes,
                    caps.max_response_bytes,
                );
                Some(Arc::new(HttpClient::new(rules).map_err(|message| {
                    LoadError::Link {
                        plugin: plugin.clone(),
                        message,
                    }
                })?))
            }
            None => None,
        };
        let http = HttpState::new(id.clone(), http_client, self.audit.clone(), denials.clone());
        Ok(Plugin {
            id,
            denials,
            redactor,
            secrets,
            config,
            kv,
            approval,
            http,
            manifest: Arc::new(manifest),
            audit: self.audit.clone(),
            engine: self.engine.clone(),
            kind_pre,
            live_recorder: tokio::sync::Mutex::new(None),
            ready_mcp: std::sync::Mutex::new(None),
            mounts: mounts.into(),
            permits: Arc::new(Semaphore::new(limits.concurrency as usize)),
            limits,
            report,
            load: LoadReport {
                sha256,
                cache,
                load_ms,
                limits,
                capped: capped.capped,
            },
        })
    }
}

/// The most resources (open files and directories, streams, pollables) one instance
/// holds at once. Past it the call traps ([`Fault::TooManyResources`]): each open file
/// is a host file descriptor, and one plugin must not run the host out of them.
pub const MAX_RESOURCES: usize = 1024;

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
        &self.mounts
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
        &self.denials
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
    /// other (a new one if `None`). Returns the spent store with the outcome, so that
    /// the caller can drop it (which resets its memory for the next instance) after
    /// answering.
    pub(crate) async fn run_in<R>(
        &self,
        ready: Option<CallStore>,
        call: impl AsyncFnOnce(&mut CallStore) -> wasmtime::Result<R>,
    ) -> (Result<R, CallError>, Option<CallStore>) {
        let started = Instant::now();
        let timeout = self.limits.timeout;
        let _permit =
            match tokio::time::timeout(timeout, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                _ => {
                    let busy = CallError::Busy {
                        plugin: self.id.to_string(),
                        limit: self.limits.concurrency,
                        waited_ms: started.elapsed().as_millis() as u64,
                    };
                    return (Err(busy), ready);
                }
            };
        let mut cs = match ready {
            Some(cs) => cs,
            None => match self.new_store() {
                Ok(cs) => cs,
                Err(e) => return (Err(self.host_error(e)), None),
            },
        };
        let outcome = self.run_on(&mut cs, call).await;
        (outcome, Some(cs))
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
        let redact = cs.store.data().redact.clone();
        cs.stdout.flush_to_log(&self.id, Place::Stdout, &redact);
        cs.stderr.flush_to_log(&self.id, Place::Stderr, &redact);
        let fault = match outcome {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => self.classify(cs, e),
            Err(_) => Fault::Timeout {
                limit_ms: timeout.as_millis() as u64,
            },
        };
        let fault = redact.fault(fault);
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
        let clock = CallClock::starting_now(self.limits.timeout);
        let redact = self.redactor.for_call();
        let state = InstanceState {
            wasi: wasi.build(),
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            mounts: self.mounts.clone(),
            limiter: MemoryLimiter {
                limit: usize::try_from(self.limits.memory_bytes).unwrap_or(usize::MAX),
                used: 0,
                exceeded: None,
            },
            log: LogState::new(self.id.clone(), redact.clone()),
            secrets: self.secrets.clone(),
            config: self.config.clone(),
            kv: self.kv.clone(),
            approval: self.approval.for_call(clock, &redact),
            http: self.http.for_call(clock, &redact),
            redact,
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
    /// and HTTP requests alike.
    fn arm(&self, cs: &mut CallStore) {
        let clock = CallClock::starting_now(self.limits.timeout);
        cs.deadline = clock.deadline;
        let state = cs.store.data_mut();
        // Each call audits its own redactions.
        let redact = self.redactor.for_call();
        state.approval = self.approval.for_call(clock, &redact);
        state.http = self.http.for_call(clock, &redact);
        // A store made ahead of the call: its plugin asks for its preopens only now.
        state.mounts = current_mounts(&self.mounts);
        state.log.redact = redact.clone();
        state.redact = redact;
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

/// The mounts an instance gets: the ones opened at load, each replaced by its
/// directory opened again if it was removed since ([`ResolvedMount::current`]).
fn current_mounts(mounts: &Arc<[ResolvedMount]>) -> Arc<[ResolvedMount]> {
    let fresh: Vec<Option<ResolvedMount>> = mounts.iter().map(ResolvedMount::current).collect();
    if fresh.iter().all(Option::is_none) {
        return mounts.clone();
    }
    mounts
        .iter()
        .zip(fresh)
        .map(|(old, new)| new.unwrap_or_else(|| old.clone()))
        .collect()
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

    #[test]
    fn extracts_the_panic_message_and_location() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:17:9:\nthe fixture panicked on purpose\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr),
            "the fixture panicked on purpose (at src/lib.rs:17:9)"
        );
    }

    #[test]
    fn memory_limit_counts_every_memory_and_records_the_overflow() {
        let mut limiter = MemoryLimiter {
            limit: 100,
            used: 0,
            exceeded: None,
        };
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert!(limiter.memory_growing(30, 50, None).is_err());
        assert_eq!(limiter.exceeded, Some(110));
    }
}
