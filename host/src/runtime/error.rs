//! Why a plugin is refused at load ([`LoadError`]), and why a call produced no
//! result ([`CallError`], with a plugin's [`Fault`]).

use std::path::PathBuf;

use super::ImportProblem;
use crate::caps::CapsError;
use crate::caps::config::ConfigError;
use crate::caps::filesystem::MountError;
use crate::caps::redact::{CallRedactor, Place};
use crate::manifest::{ManifestError, PluginKind};
use crate::policy::PolicyError;
use crate::store::HomeError;

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
    /// The host already runs as many instances as its pool holds, across all the
    /// plugins it serves: not the plugin's fault, and not its own limit.
    #[error(
        "plugin `{plugin}` cannot start an instance now: every one of the host's {limit} instance slots is in use ({message}); retry, or give the plugins this host serves a lower `concurrency` in their [limits]"
    )]
    HostBusy {
        /// The plugin.
        plugin: String,
        /// The instances the host's pool holds.
        limit: u32,
        /// What wasmtime said ran out.
        message: String,
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

impl LoadError {
    /// The error for capabilities of `plugin` that cannot be built, as each was
    /// reported before capabilities were built in one place.
    pub(crate) fn caps(plugin: &str, e: CapsError) -> Self {
        match e {
            CapsError::Mount(e) => LoadError::Mount(e),
            CapsError::Config(e) => LoadError::Config(e),
            CapsError::Http(message) => LoadError::Link {
                plugin: plugin.to_owned(),
                message,
            },
        }
    }
}

impl Fault {
    /// This fault with every secret value in its message replaced (a panic message is
    /// the plugin's stderr).
    pub(crate) fn redacted(self, redact: &CallRedactor) -> Fault {
        match self {
            Fault::Panic { mut message } => {
                redact.string(&mut message, Place::Fault);
                Fault::Panic { message }
            }
            Fault::Trap { mut message } => {
                redact.string(&mut message, Place::Fault);
                Fault::Trap { message }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::audit::Audit;
    use crate::caps::redact::Redactor;
    use crate::store::Home;
    use crate::vault::Vault;

    #[test]
    fn redacts_fault_messages() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let r = Redactor::new(
            "com.example.leaky".into(),
            &["token".to_owned()],
            Arc::new(Vault::open(&home).unwrap()),
            Arc::new(Audit::open(&home).unwrap()),
        );
        r.handed("token", "s3cr3t-value");
        let fault = Fault::Panic {
            message: "leaked s3cr3t-value (at src/lib.rs:1:1)".into(),
        }
        .redacted(&r.for_call());
        assert_eq!(
            fault,
            Fault::Panic {
                message: "leaked [redacted:token] (at src/lib.rs:1:1)".into()
            }
        );
    }
}
