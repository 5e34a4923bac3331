//! Admin operations as library functions: each checks its input, makes the change and
//! audits it, for whichever front end asks. The command line only reads arguments and
//! prints results; the gateway's `GET /v1/plugins` serves the same
//! [`installed::InstalledSummary`] that `pincer list --json` prints, and a front end
//! that offers another operation calls the same function.
//!
//! - [`settings`]: a plugin's secrets and config (`pincer secrets`, `pincer config`);
//! - [`trust`]: the publisher keys an admin trusts (`pincer trust`);
//! - [`roots`]: the directories named roots stand for (`pincer root`);
//! - [`installed`]: an installed plugin as `pincer list --json`, `pincer info --json`
//!   and the gateway's `GET /v1/plugins` show it;
//! - [`inventory`]: every installed plugin's reach (`pincer egress`, `pincer review
//!   --all`).
//!
//! Installing, approving and removing plugins is [`crate::install`]; the gate before a
//! tool call is [`crate::install::tools::check_callable`].

pub mod installed;
pub mod inventory;
pub mod roots;
pub mod settings;
pub mod trust;

use crate::audit::AuditError;
use crate::caps::config::ConfigError;
use crate::exit::{Exit, ExitClass};
use crate::store::HomeError;
use crate::store::plugins::StoreError;
use crate::trust::TrustError;
use crate::vault::VaultError;

/// Why an admin operation failed. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The plugin id is malformed.
    #[error("`{id}` is not a plugin id: {why}")]
    BadPluginId {
        /// What was given.
        id: String,
        /// Why it is not an id.
        why: String,
    },
    /// A secret name or config key is malformed.
    #[error(
        "invalid {what} `{name}`: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter"
    )]
    BadName {
        /// `secret name` or `config key`.
        what: &'static str,
        /// What was given.
        name: String,
    },
    /// A secret's value is empty.
    #[error(
        "the value of `{name}` is empty: pipe it in, such as `pincer secrets set ID {name} < token.txt`"
    )]
    EmptySecret {
        /// The secret's name.
        name: String,
    },
    /// The plugin has no such secret.
    #[error("{id} has no secret `{name}` (see `pincer secrets list {id}`)")]
    NoSuchSecret {
        /// The plugin.
        id: String,
        /// The secret's name.
        name: String,
    },
    /// A config key is set for a plugin that is not installed.
    #[error(
        "plugin `{id}` is not installed: install it first, so Pincer knows which keys it declares"
    )]
    NotInstalled {
        /// The plugin.
        id: String,
    },
    /// The installed plugin does not declare the config key.
    #[error(
        "{id} {version} does not declare config key `{key}` (it declares: {}); its manifest needs [capabilities.config] keys = [\"{key}\"]",
        if declared.is_empty() { "none".to_owned() } else { declared.join(", ") }
    )]
    UndeclaredKey {
        /// The plugin.
        id: String,
        /// Its installed version.
        version: String,
        /// The key.
        key: String,
        /// The keys it declares.
        declared: Vec<String>,
    },
    /// The plugin has no such setting.
    #[error("{id} has no setting `{key}` (see `pincer config list {id}`)")]
    NoSuchSetting {
        /// The plugin.
        id: String,
        /// The key.
        key: String,
    },
    /// The root is not bound.
    #[error("root `{name}` is not bound (see `pincer root list`)")]
    NotBound {
        /// The root.
        name: String,
    },
    /// The policy file is malformed, or refused the binding.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// A key id is malformed.
    #[error("{0}")]
    BadKeyId(String),
    /// The vault failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The settings store failed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The trust store failed, or refused the key.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The plugin store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit trail failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] HomeError),
}

impl ExitClass for AdminError {
    fn exit(&self) -> Exit {
        match self {
            AdminError::BadPluginId { .. }
            | AdminError::BadName { .. }
            | AdminError::EmptySecret { .. }
            | AdminError::NoSuchSecret { .. }
            | AdminError::NotInstalled { .. }
            | AdminError::NoSuchSetting { .. }
            | AdminError::NotBound { .. }
            | AdminError::BadKeyId(_) => Exit::Usage,
            AdminError::UndeclaredKey { .. } => Exit::Refused,
            AdminError::Vault(e) => e.exit(),
            AdminError::Config(e) => e.exit(),
            AdminError::Trust(e) => e.exit(),
            AdminError::Store(e) => e.exit(),
            AdminError::Audit(e) => e.exit(),
            AdminError::Home(e) => e.exit(),
            AdminError::Policy(e) => e.exit(),
        }
    }
}

/// Check that `id` is a well-formed plugin id.
pub fn plugin_id(id: &str) -> Result<(), AdminError> {
    crate::manifest::PluginId::parse(id)
        .map(|_| ())
        .map_err(|why| AdminError::BadPluginId {
            id: id.to_owned(),
            why,
        })
}
