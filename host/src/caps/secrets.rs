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

use wasmtime::component::{HasData, Linker};

use super::bindings::pincer::plugin::secrets::{self as wit, Error, Host};
use super::redact::Redactor;
use super::{CapsView, LoadContext, View};
use crate::audit::Event;
use crate::manifest::Invalid;
use crate::policy::grants::GrantSet;
use crate::vault::{Vault, VaultError};

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
    names: Arc<[String]>,
    vault: Arc<Vault>,
    /// Notes each value handed over, so that it is redacted from what the plugin
    /// writes afterwards.
    redactor: Redactor,
}

impl SecretsState {
    /// The state of the plugin in `load`, which may read the secret names of its
    /// `grants` from the vault, noting each value handed over in `redactor`. With no
    /// names every read is denied.
    pub fn new(grants: &GrantSet, load: &LoadContext<'_>, redactor: &Redactor) -> Self {
        SecretsState {
            names: grants.secrets.clone().into(),
            vault: load.vault.clone(),
            redactor: redactor.clone(),
        }
    }
}

struct HasSecrets;

impl HasData for HasSecrets {
    type Data<'a> = View<'a, SecretsState>;
}

/// Link `pincer:plugin/secrets`.
pub fn add_to_linker<T: CapsView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSecrets>(linker, |t| {
        let caps = t.caps().caps;
        View {
            call: &caps.call,
            state: &mut caps.secrets,
        }
    })
}

impl Host for View<'_, SecretsState> {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        let call = self.call;
        // Denied is a value: a plugin can tell its user which line to add.
        if !self.state.names.contains(&name) {
            return Ok(Err(Error::Denied(call.denials.note(format!(
                "secret `{name}` is not declared; add it to the manifest: [capabilities.secrets] names = [\"{name}\"]"
            )))));
        }
        let plugin = &*call.plugin;
        let value = match self.state.vault.get(plugin, &name) {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Ok(Err(Error::NotSet(format!(
                    "secret `{name}` is not set; an admin sets it with `pincer secrets set {plugin} {name}`"
                ))));
            }
            // One value that fails to open is as good as not set: the admin sets it
            // again, and the plugin can say so.
            Err(e @ VaultError::Decrypt { .. }) => return Ok(Err(Error::NotSet(e.to_string()))),
            // The vault itself failing (unreadable, damaged) is the host's failure, not
            // an answer: it traps the call.
            Err(e) => return Err(wasmtime::format_err!("the secrets vault failed: {e}")),
        };
        // A plugin may read its secret in a loop: bounded per plugin.
        if let Err(e) = call.audit.record_limited(
            "host",
            Event::SecretRead,
            Some(plugin),
            serde_json::json!({ "name": name }),
        ) {
            tracing::error!(plugin, "cannot audit a secret read: {e}");
        }
        self.state.redactor.handed(&name, &value);
        // The host's copy is wiped when `value` drops; the plugin gets its own.
        Ok(Ok(value.as_str().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::testing::{Fixture, PLUGIN};

    const GRANT: &str = "[capabilities.secrets]\nnames = [\"api-key\"]\n";

    fn get(f: &Fixture, sections: &str, name: &str) -> wasmtime::Result<Result<String, Error>> {
        let mut caps = f.instance(sections);
        View {
            call: &caps.call,
            state: &mut caps.secrets,
        }
        .get(name.into())
    }

    #[test]
    fn a_declared_secret_that_is_set_is_read_audited_by_name_and_redacted_afterwards() {
        let f = Fixture::new();
        f.vault.set(PLUGIN, "api-key", b"sk-live-0123").unwrap();
        let mut caps = f.instance(GRANT);
        let value = View {
            call: &caps.call,
            state: &mut caps.secrets,
        }
        .get("api-key".into())
        .unwrap()
        .unwrap();
        assert_eq!(value, "sk-live-0123");
        let reads = f.records("secret-read");
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0]["details"]["name"], "api-key");
        assert!(!reads[0].to_string().contains("sk-live-0123"));
        assert_eq!(
            caps.redact()
                .text("key sk-live-0123", crate::caps::redact::Place::Log),
            "key [redacted:api-key]"
        );
    }

    #[test]
    fn an_undeclared_name_is_denied_naming_the_manifest_line_even_when_set() {
        let f = Fixture::new();
        f.vault.set(PLUGIN, "other", b"value-of-other").unwrap();
        for sections in ["", GRANT] {
            match get(&f, sections, "other").unwrap() {
                Err(Error::Denied(why)) => assert!(
                    why.contains("[capabilities.secrets] names = [\"other\"]"),
                    "{why}"
                ),
                other => panic!("expected a denial, got {other:?}"),
            }
        }
        assert!(f.records("secret-read").is_empty());
    }

    #[test]
    fn a_declared_secret_not_set_names_the_command_that_sets_it() {
        let f = Fixture::new();
        match get(&f, GRANT, "api-key").unwrap() {
            Err(Error::NotSet(why)) => {
                assert!(
                    why.contains(&format!("pincer secrets set {PLUGIN} api-key")),
                    "{why}"
                )
            }
            other => panic!("expected not-set, got {other:?}"),
        }
    }

    #[test]
    fn a_damaged_vault_traps_the_call_instead_of_answering_not_set() {
        let f = Fixture::new();
        f.vault.set(PLUGIN, "api-key", b"sk-live-0123").unwrap();
        std::fs::write(f.home.join("vault.json"), b"{ not json").unwrap();
        let e = get(&f, GRANT, "api-key").expect_err("a host failure traps");
        assert!(format!("{e:#}").contains("vault"), "{e:#}");
    }
}
