//! The config capability: non-secret settings that an admin sets per plugin.
//!
//! This module owns the `[capabilities.config]` manifest section, the settings store
//! (`$PINCER_HOME/config.json`, set with `pincer config set`), and the host side of
//! `pincer:plugin/config`. A plugin reads only the keys its manifest declares; an admin
//! can set only those keys. Settings are read when the plugin loads.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::Denials;
use super::bindings::pincer::plugin::config::{Error, Host};
use crate::manifest::Invalid;
use crate::store::{Home, HomeError};

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

const FILE: &str = "config.json";

/// The lock that every change of the settings holds.
pub const LOCK: &str = "config.lock";

/// Every plugin's settings: plugin id -> key -> value.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfigStore {
    /// The settings.
    pub plugins: BTreeMap<String, BTreeMap<String, String>>,
}

/// Errors of the settings store.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The file is not valid.
    #[error("{path} is damaged: {why}; fix or remove it")]
    Damaged {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
}

impl ConfigStore {
    /// Read the settings of `home`; no file means none.
    pub fn load(home: &Home) -> Result<Self, ConfigError> {
        match home.read_optional(FILE)? {
            None => Ok(ConfigStore::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| ConfigError::Damaged {
                path: home.join(FILE).display().to_string(),
                why: e.to_string(),
            }),
        }
    }

    /// Write the settings atomically.
    pub fn save(&self, home: &Home) -> Result<(), ConfigError> {
        let bytes = serde_json::to_vec_pretty(self).expect("settings serialise");
        home.write_atomic(FILE, &bytes, 0o600)?;
        Ok(())
    }

    /// The settings of `plugin` among `keys` (the ones its manifest declares).
    pub fn granted(&self, plugin: &str, keys: &[String]) -> BTreeMap<String, String> {
        self.plugins
            .get(plugin)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| keys.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What one instance may read: the declared keys of one plugin and their values.
#[derive(Clone, Default)]
pub struct ConfigState {
    plugin: Arc<str>,
    keys: Arc<[String]>,
    values: Arc<BTreeMap<String, String>>,
    denials: Denials,
}

impl ConfigState {
    /// The state for `plugin`, which may read `keys`; `values` are the admin's settings
    /// for those keys; each denial is noted in `denials`. By default (no keys) every
    /// read is denied.
    pub fn new(
        plugin: Arc<str>,
        keys: Vec<String>,
        values: BTreeMap<String, String>,
        denials: Denials,
    ) -> Self {
        ConfigState {
            plugin,
            keys: keys.into(),
            values: Arc::new(values),
            denials,
        }
    }
}

impl Host for ConfigState {
    fn get(&mut self, key: String) -> Result<Option<String>, Error> {
        if !self.keys.contains(&key) {
            return Err(Error::Denied(self.denials.note(format!(
                "config key `{key}` is not declared; add it to the manifest: [capabilities.config] keys = [\"{key}\"] (plugin `{}`)",
                self.plugin
            ))));
        }
        Ok(self.values.get(&key).cloned())
    }
}
