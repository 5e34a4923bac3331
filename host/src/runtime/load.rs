//! Loading a plugin: verifying an installed bundle again, checking a component
//! against its manifest (digest, compilation, the import audit, its world), building
//! its capabilities and linking it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};

use super::{CacheOutcome, ComponentReport, LoadError, Plugin, Runtime};
use crate::audit::Event;
use crate::caps::{LoadContext, PluginCaps};
use crate::digest::sha256_hex;
use crate::manifest::{Manifest, PluginKind};
use crate::policy::Limits;
use crate::policy::grants::GrantSet;
use crate::store::plugins::PluginStore;
use crate::trust::{Bundle, TrustStore};

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

/// Give the memory that loading freed back to the system. Loading reads each compiled
/// component (megabytes) into a buffer that is dropped once wasmtime has copied it;
/// glibc keeps such freed memory in its arenas (one per thread that loaded), where a
/// long-running `pincer mcp` would hold it resident while idle. Call this after a batch
/// of loads.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's arenas to the
    // kernel; it takes no pointers and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Runtime {
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
        // Mounts are opened first: a link planted where one is opened refuses the load.
        let id: Arc<str> = plugin.as_str().into();
        let caps = PluginCaps::new(&LoadContext {
            plugin: &id,
            manifest: &manifest,
            home: &self.home,
            policy: &self.policy,
            vault: &self.vault,
            audit: &self.audit,
            approver: &self.approver,
        })
        .map_err(|e| LoadError::caps(&plugin, e))?;
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
        Ok(Plugin {
            id,
            caps,
            manifest: Arc::new(manifest),
            audit: self.audit.clone(),
            engine: self.engine.clone(),
            kind_pre,
            live_recorder: tokio::sync::Mutex::new(None),
            ready_mcp: std::sync::Mutex::new(None),
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
