//! The config capability: non-secret settings that an admin sets per plugin.
//!
//! This module owns the `[capabilities.config]` manifest section. The settings store and
//! the host side of `pincer:plugin/config` are not in this version yet: a component
//! that imports the interface is refused at load time with that reason.

use serde::Deserialize;
use toml::Spanned;

use crate::manifest::Invalid;

/// The `[capabilities.config]` section: the setting keys a plugin reads. By default
/// (no section) none.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConfigGrant {
    /// The keys, such as `base-url`.
    pub keys: Vec<Spanned<String>>,
}

impl ConfigGrant {
    /// Check the section on its own: keys well-formed and unique.
    pub fn validate(&self) -> Result<(), Invalid> {
        crate::caps::names::check_names(&self.keys, "config key")
    }
}
