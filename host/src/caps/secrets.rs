//! The secrets capability: values such as API keys that an admin stores for a plugin.
//!
//! This module owns the `[capabilities.secrets]` manifest section and the host side of
//! `pincer:plugin/secrets`. A plugin reads a secret only if its manifest declares the
//! name and the admin set it (`pincer secrets set`); the value comes from the encrypted
//! [`Vault`](crate::vault::Vault). Each read is audited by name, never by value, and
//! noted in the plugin's [`Redactor`], so that the value is redacted from everything
//! the plugin writes afterwards.

use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::Denials;
use super::bindings::pincer::plugin::secrets::{Error, Host};
use super::redact::Redactor;
use crate::audit::{Audit, Event};
use crate::manifest::Invalid;
use crate::vault::Vault;

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

/// What one instance may read: the declared names of one plugin, from the vault.
#[derive(Clone)]
pub struct SecretsState {
    plugin: Arc<str>,
    names: Arc<[String]>,
    vault: Arc<Vault>,
    audit: Arc<Audit>,
    denials: Denials,
    redactor: Redactor,
}

impl SecretsState {
    /// The state for `plugin`, which may read `names` (its manifest's) from `vault`,
    /// noting each denial in `denials` and each value handed over in `redactor`. By
    /// default (no names) every read is denied.
    pub fn new(
        plugin: Arc<str>,
        names: Vec<String>,
        vault: Arc<Vault>,
        audit: Arc<Audit>,
        denials: Denials,
        redactor: Redactor,
    ) -> Self {
        SecretsState {
            plugin,
            names: names.into(),
            vault,
            audit,
            denials,
            redactor,
        }
    }
}

impl Host for SecretsState {
    fn get(&mut self, name: String) -> Result<String, Error> {
        // Denied is a value: a plugin can tell its user which line to add.
        if !self.names.contains(&name) {
            return Err(Error::Denied(self.denials.note(format!(
                "secret `{name}` is not declared; add it to the manifest: [capabilities.secrets] names = [\"{name}\"]"
            ))));
        }
        let plugin = &*self.plugin;
        let value = match self.vault.get(plugin, &name) {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Err(Error::NotSet(format!(
                    "secret `{name}` is not set; an admin sets it with `pincer secrets set {plugin} {name}`"
                )));
            }
            Err(e) => return Err(Error::NotSet(e.to_string())),
        };
        // A plugin may read its secret in a loop: bounded per plugin.
        if let Err(e) = self.audit.record_limited(
            "host",
            Event::SecretRead,
            Some(plugin),
            serde_json::json!({ "name": name }),
        ) {
            tracing::error!(plugin, "cannot audit a secret read: {e}");
        }
        self.redactor.handed(&name, &value);
        // The host's copy is wiped when `value` drops; the plugin gets its own.
        Ok(value.as_str().to_owned())
    }
}
