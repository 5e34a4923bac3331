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

use wasmtime::component::{HasData, Linker};

use super::bindings::pincer::plugin::config::{self as wit, Error, Host};
use super::{CapsView, LoadContext, View};
use crate::manifest::Invalid;
use crate::policy::grants::GrantSet;
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
    keys: Arc<[String]>,
    values: Arc<BTreeMap<String, String>>,
}

impl ConfigState {
    /// The state of the plugin in `load`, which may read the config keys of its
    /// `grants`, with the admin's settings for those keys. With no keys every read is
    /// denied, and the settings file is not read.
    pub fn new(grants: &GrantSet, load: &LoadContext<'_>) -> Result<Self, ConfigError> {
        let keys = &grants.config_keys;
        let values = if keys.is_empty() {
            BTreeMap::new()
        } else {
            ConfigStore::load(load.home)?.granted(load.plugin, keys)
        };
        Ok(ConfigState {
            keys: keys.clone().into(),
            values: Arc::new(values),
        })
    }
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = View<'a, ConfigState>;
}

/// Link `pincer:plugin/config`.
pub fn add_to_linker<T: CapsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasConfig>(linker, |t| {
        let caps = t.caps().caps;
        View {
            call: &caps.call,
            state: &mut caps.config,
        }
    })
}

impl Host for View<'_, ConfigState> {
    fn get(&mut self, key: String) -> Result<Option<String>, Error> {
        if !self.state.keys.contains(&key) {
            return Err(Error::Denied(self.call.denials.note(format!(
                "config key `{key}` is not declared; add it to the manifest: [capabilities.config] keys = [\"{key}\"] (plugin `{}`)",
                self.call.plugin
            ))));
        }
        Ok(self.state.values.get(&key).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::testing::{Fixture, PLUGIN};

    const GRANT: &str = "[capabilities.config]\nkeys = [\"base-url\", \"unset\"]\n";

    fn settings(f: &Fixture, plugin: &str, pairs: &[(&str, &str)]) {
        let mut store = ConfigStore::load(&f.home).unwrap();
        for (k, v) in pairs {
            store
                .plugins
                .entry(plugin.into())
                .or_default()
                .insert((*k).into(), (*v).into());
        }
        store.save(&f.home).unwrap();
    }

    fn get(f: &Fixture, sections: &str, key: &str) -> Result<Option<String>, Error> {
        let mut caps = f.instance(sections);
        View {
            call: &caps.call,
            state: &mut caps.config,
        }
        .get(key.into())
    }

    #[test]
    fn a_declared_key_reads_the_admins_setting_or_none() {
        let f = Fixture::new();
        settings(&f, PLUGIN, &[("base-url", "https://api.example.com")]);
        assert_eq!(
            get(&f, GRANT, "base-url").unwrap().as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(get(&f, GRANT, "unset").unwrap(), None);
    }

    #[test]
    fn an_undeclared_key_is_denied_even_when_set_and_another_plugins_keys_are_not_seen() {
        let f = Fixture::new();
        settings(&f, PLUGIN, &[("token-url", "https://x.example")]);
        settings(
            &f,
            "com.example.other",
            &[("base-url", "https://other.example")],
        );
        match get(&f, GRANT, "token-url") {
            Err(Error::Denied(why)) => assert!(
                why.contains("[capabilities.config] keys = [\"token-url\"]"),
                "{why}"
            ),
            other => panic!("expected a denial, got {other:?}"),
        }
        assert_eq!(get(&f, GRANT, "base-url").unwrap(), None);
    }

    #[test]
    fn a_damaged_settings_file_refuses_the_load_naming_the_file() {
        let f = Fixture::new();
        std::fs::write(f.home.join("config.json"), b"[1, 2").unwrap();
        let e = f.try_caps(GRANT).err().expect("the load is refused");
        assert!(e.to_string().contains("config.json is damaged"), "{e}");
        // A plugin that declares no key never reads the file.
        assert!(f.try_caps("").is_ok());
    }
}
