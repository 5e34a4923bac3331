//! The key-value capability: a persistent store private to each plugin.
//!
//! This module owns the `[capabilities.kv]` manifest section. The database and the
//! host side of `pincer:plugin/kv` are not in this version yet: a component that
//! imports the interface is refused at load time with that reason.

use serde::Deserialize;

use crate::manifest::Invalid;

/// The `[capabilities.kv]` section: a store with a quota. By default (no section) none.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KvGrant {
    /// The most bytes of keys and values the plugin may keep.
    pub quota_bytes: u64,
}

impl KvGrant {
    /// Check the section on its own: a quota of at least one byte.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.quota_bytes == 0 {
            return Err(Invalid::section(
                "[capabilities.kv] quota_bytes must be at least 1",
            ));
        }
        Ok(())
    }
}
