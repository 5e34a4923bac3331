//! A plugin's secrets (in the vault) and config (in `config.json`), set by an admin.
//! Every change is audited; a secret's value never is.

use std::collections::BTreeMap;

use serde_json::json;

use super::{AdminError, plugin_id};
use crate::audit::{Audit, Event};
use crate::caps::config::{self, ConfigStore};
use crate::caps::names::is_name;
use crate::caps::redact::MIN_SECRET_BYTES;
use crate::store::Home;
use crate::store::plugins::PluginStore;
use crate::vault::Vault;

/// The same rule as a manifest's names (a-z, 0-9, `-`, `_`; starts with a letter).
fn setting_name(name: &str, what: &'static str) -> Result<(), AdminError> {
    if is_name(name) {
        return Ok(());
    }
    Err(AdminError::BadName {
        what,
        name: name.to_owned(),
    })
}

/// Check that `name` can be a secret of plugin `id` (before its value is asked for).
pub fn check_secret(id: &str, name: &str) -> Result<(), AdminError> {
    plugin_id(id)?;
    setting_name(name, "secret name")
}

/// What setting a secret left for the admin to know.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SecretSet {
    /// The value is shorter than [`MIN_SECRET_BYTES`], so it is not redacted from the
    /// plugin's output.
    pub too_short_to_redact: bool,
    /// The installed version of the plugin, if it does not declare the name (it cannot
    /// read it).
    pub undeclared_by: Option<String>,
}

/// Set the secret `name` of plugin `id` to `value`, audited as done by `actor`.
pub fn set_secret(
    home: &Home,
    actor: &str,
    id: &str,
    name: &str,
    value: &str,
) -> Result<SecretSet, AdminError> {
    check_secret(id, name)?;
    if value.is_empty() {
        return Err(AdminError::EmptySecret {
            name: name.to_owned(),
        });
    }
    let vault = Vault::open(home)?;
    let audit = Audit::open(home)?;
    vault.set(id, name, value.as_bytes())?;
    audit.record(actor, Event::SecretSet, Some(id), json!({ "name": name }))?;
    let undeclared_by = PluginStore::new(home)
        .get(id)?
        .filter(|p| !p.active.grants.secrets.iter().any(|n| n == name))
        .map(|p| p.active.version);
    Ok(SecretSet {
        too_short_to_redact: value.len() < MIN_SECRET_BYTES,
        undeclared_by,
    })
}

/// Remove the secret `name` of plugin `id`, audited as done by `actor`.
pub fn remove_secret(home: &Home, actor: &str, id: &str, name: &str) -> Result<(), AdminError> {
    plugin_id(id)?;
    let vault = Vault::open(home)?;
    let audit = Audit::open(home)?;
    if !vault.remove(id, name)? {
        return Err(AdminError::NoSuchSecret {
            id: id.to_owned(),
            name: name.to_owned(),
        });
    }
    audit.record(
        actor,
        Event::SecretRemove,
        Some(id),
        json!({ "name": name }),
    )?;
    Ok(())
}

/// The names of the secrets set, per plugin: of `id`, or of every plugin.
pub fn secret_names(
    home: &Home,
    id: Option<&str>,
) -> Result<BTreeMap<String, Vec<String>>, AdminError> {
    if let Some(id) = id {
        plugin_id(id)?;
    }
    Ok(Vault::open(home)?.names(id)?)
}

/// Set config `key` of the installed plugin `id` to `value`, audited as done by
/// `actor`. Only a key its installed manifest declares can be set.
pub fn set_config(
    home: &Home,
    actor: &str,
    id: &str,
    key: &str,
    value: &str,
) -> Result<(), AdminError> {
    plugin_id(id)?;
    // Two admins changing settings at once must not lose one change.
    let _lock = home.lock(config::LOCK, true)?;
    let mut store = ConfigStore::load(home)?;
    let installed = PluginStore::new(home)
        .get(id)?
        .ok_or_else(|| AdminError::NotInstalled { id: id.to_owned() })?;
    let declared = &installed.active.grants.config_keys;
    if !declared.iter().any(|k| k == key) {
        return Err(AdminError::UndeclaredKey {
            id: id.to_owned(),
            version: installed.active.version.clone(),
            key: key.to_owned(),
            declared: declared.clone(),
        });
    }
    store
        .plugins
        .entry(id.to_owned())
        .or_default()
        .insert(key.to_owned(), value.to_owned());
    store.save(home)?;
    Audit::open(home)?.record(
        actor,
        Event::ConfigSet,
        Some(id),
        json!({ "key": key, "value": value }),
    )?;
    Ok(())
}

/// Remove config `key` of plugin `id`, audited as done by `actor`.
pub fn unset_config(home: &Home, actor: &str, id: &str, key: &str) -> Result<(), AdminError> {
    plugin_id(id)?;
    let _lock = home.lock(config::LOCK, true)?;
    let mut store = ConfigStore::load(home)?;
    let removed = store
        .plugins
        .get_mut(id)
        .and_then(|m| m.remove(key))
        .is_some();
    if !removed {
        return Err(AdminError::NoSuchSetting {
            id: id.to_owned(),
            key: key.to_owned(),
        });
    }
    store.plugins.retain(|_, m| !m.is_empty());
    store.save(home)?;
    Audit::open(home)?.record(
        actor,
        Event::ConfigSet,
        Some(id),
        json!({ "key": key, "removed": true }),
    )?;
    Ok(())
}

/// The settings of plugin `id`.
pub fn config_values(home: &Home, id: &str) -> Result<BTreeMap<String, String>, AdminError> {
    plugin_id(id)?;
    let _lock = home.lock(config::LOCK, true)?;
    Ok(ConfigStore::load(home)?
        .plugins
        .get(id)
        .cloned()
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "com.example.probe";

    fn log(home: &Home) -> String {
        std::fs::read_to_string(home.join("audit/log.jsonl")).unwrap_or_default()
    }

    #[test]
    fn a_secret_is_set_audited_by_name_only_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let set = set_secret(&home, "ada", ID, "api-key", "sk-0123456").unwrap();
        assert_eq!(set, SecretSet::default());
        assert_eq!(secret_names(&home, Some(ID)).unwrap()[ID], ["api-key"]);
        assert!(log(&home).contains("\"secret-set\"") && !log(&home).contains("sk-0123456"));
        assert!(
            set_secret(&home, "ada", ID, "pin", "12")
                .unwrap()
                .too_short_to_redact
        );
        remove_secret(&home, "ada", ID, "api-key").unwrap();
        assert!(matches!(
            remove_secret(&home, "ada", ID, "api-key"),
            Err(AdminError::NoSuchSecret { .. })
        ));
    }

    #[test]
    fn bad_input_is_refused_before_anything_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        for (id, name, value) in [("../x", "k", "v"), (ID, "Bad Name", "v"), (ID, "k", "")] {
            let e = set_secret(&home, "ada", id, name, value).unwrap_err();
            assert_eq!(e.exit(), crate::exit::Exit::Usage, "{e}");
        }
        assert!(secret_names(&home, None).unwrap().is_empty());
        // Config needs the plugin installed, to know its keys.
        let e = set_config(&home, "ada", ID, "base-url", "x").unwrap_err();
        assert!(e.to_string().contains("install it first"), "{e}");
        assert!(matches!(
            unset_config(&home, "ada", ID, "base-url"),
            Err(AdminError::NoSuchSetting { .. })
        ));
    }

    use crate::exit::ExitClass as _;
}
