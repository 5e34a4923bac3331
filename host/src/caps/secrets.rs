//! The secrets capability: values such as API keys that an admin stores for a plugin.
//!
//! This module owns the `[capabilities.secrets]` manifest section. The encrypted vault
//! and the host side of `pincer:plugin/secrets` are not in this version yet: a
//! component that imports the interface is refused at load time with that reason.

use serde::Deserialize;
use toml::Spanned;

use crate::manifest::Invalid;

/// The `[capabilities.secrets]` section: the secret names a plugin may read. By
/// default (no section) none.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretsGrant {
    /// The names, such as `api-key`.
    pub names: Vec<Spanned<String>>,
}

impl SecretsGrant {
    /// Check the section on its own: names well-formed and unique.
    pub fn validate(&self) -> Result<(), Invalid> {
        crate::caps::names::check_names(&self.names, "secret name")
    }
}
