//! The admin's settings for plugins: `secrets` and `config`.

use std::io::{IsTerminal, Read};

use serde_json::json;
use zeroize::Zeroizing;

use super::commands::{Failure, print_json};
use super::{ConfigCommand, SecretsCommand};
use crate::audit::{Audit, Event, cli_actor};
use crate::caps::config::ConfigStore;
use crate::manifest::PluginId;
use crate::store::Home;
use crate::store::plugins::PluginStore;
use crate::vault::Vault;

fn plugin_id(id: &str) -> Result<(), Failure> {
    PluginId::parse(id)
        .map(|_| ())
        .map_err(|e| Failure::new(2, format!("`{id}` is not a plugin id: {e}")))
}

/// The same rule as a manifest's names (a-z, 0-9, `-`, `_`; starts with a letter).
fn setting_name(name: &str, what: &str) -> Result<(), Failure> {
    if crate::caps::names::is_name(name) {
        return Ok(());
    }
    Err(Failure::new(
        2,
        format!(
            "invalid {what} `{name}`: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter"
        ),
    ))
}

/// Read a secret value from standard input: without echo on a terminal, else all of
/// it, minus one trailing newline.
fn read_secret(name: &str) -> Result<Zeroizing<String>, Failure> {
    let value = if std::io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password(format!("Value for `{name}`: "))
                .map_err(|e| Failure::new(1, format!("cannot read the value: {e}")))?,
        )
    } else {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            Failure::new(2, format!("cannot read the value from standard input: {e}"))
        })?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
        Zeroizing::new(trimmed.to_owned())
    };
    if value.is_empty() {
        return Err(Failure::new(
            2,
            format!(
                "the value of `{name}` is empty: pipe it in, such as `pincer secrets set ID {name} < token.txt`"
            ),
        ));
    }
    Ok(value)
}

pub(super) fn cmd_secrets(home: &Home, command: &SecretsCommand) -> Result<(), Failure> {
    let vault = Vault::open(home)?;
    let audit = Audit::open(home)?;
    match command {
        SecretsCommand::Set { id, name } => {
            plugin_id(id)?;
            setting_name(name, "secret name")?;
            let value = read_secret(name)?;
            vault.set(id, name, value.as_bytes())?;
            audit.record(
                &cli_actor(),
                Event::SecretSet,
                Some(id),
                json!({ "name": name }),
            )?;
            println!("set secret `{name}` of {id}");
            if value.len() < crate::caps::redact::MIN_SECRET_BYTES {
                eprintln!(
                    "warning: the value is shorter than {} bytes, so Pincer will not redact it from the plugin's output (it would mangle ordinary text)",
                    crate::caps::redact::MIN_SECRET_BYTES
                );
            }
            if let Some(p) = PluginStore::new(home).get(id)?
                && !p.active.grants.secrets.contains(name)
            {
                eprintln!(
                    "note: installed {id} {} does not declare `{name}` in [capabilities.secrets]; it cannot read it",
                    p.active.version
                );
            }
        }
        SecretsCommand::List { id, json } => {
            if let Some(id) = id {
                plugin_id(id)?;
            }
            let names = vault.names(id.as_deref())?;
            if *json {
                print_json(&json!(names));
            } else if names.is_empty() {
                println!("no secrets set; set one with `pincer secrets set ID NAME < value.txt`");
            } else {
                for (plugin, list) in &names {
                    for name in list {
                        println!("{plugin:<32} {name}");
                    }
                }
            }
        }
        SecretsCommand::Rm { id, name } => {
            plugin_id(id)?;
            if !vault.remove(id, name)? {
                return Err(Failure::new(
                    2,
                    format!("{id} has no secret `{name}` (see `pincer secrets list {id}`)"),
                ));
            }
            audit.record(
                &cli_actor(),
                Event::SecretRemove,
                Some(id),
                json!({ "name": name }),
            )?;
            println!("removed secret `{name}` of {id}");
        }
    }
    Ok(())
}

pub(super) fn cmd_config(home: &Home, command: &ConfigCommand) -> Result<(), Failure> {
    // Two admins changing settings at once must not lose one change.
    let _lock = home.lock(crate::caps::config::LOCK, true)?;
    let mut store = ConfigStore::load(home)?;
    match command {
        ConfigCommand::Set { id, key, value } => {
            plugin_id(id)?;
            let installed = PluginStore::new(home).get(id)?.ok_or_else(|| {
                Failure::new(2, format!("plugin `{id}` is not installed: install it first, so Pincer knows which keys it declares"))
            })?;
            let declared = &installed.active.grants.config_keys;
            if !declared.contains(key) {
                return Err(Failure::new(
                    3,
                    format!(
                        "{id} {} does not declare config key `{key}` (it declares: {}); its manifest needs [capabilities.config] keys = [\"{key}\"]",
                        installed.active.version,
                        if declared.is_empty() {
                            "none".to_owned()
                        } else {
                            declared.join(", ")
                        }
                    ),
                ));
            }
            store
                .plugins
                .entry(id.clone())
                .or_default()
                .insert(key.clone(), value.clone());
            store.save(home)?;
            Audit::open(home)?.record(
                &cli_actor(),
                Event::ConfigSet,
                Some(id),
                json!({ "key": key, "value": value }),
            )?;
            println!("set {id} {key} = {value} (applies when the plugin next loads)");
        }
        ConfigCommand::Unset { id, key } => {
            plugin_id(id)?;
            let removed = store
                .plugins
                .get_mut(id)
                .and_then(|m| m.remove(key))
                .is_some();
            if !removed {
                return Err(Failure::new(
                    2,
                    format!("{id} has no setting `{key}` (see `pincer config list {id}`)"),
                ));
            }
            store.plugins.retain(|_, m| !m.is_empty());
            store.save(home)?;
            Audit::open(home)?.record(
                &cli_actor(),
                Event::ConfigSet,
                Some(id),
                json!({ "key": key, "removed": true }),
            )?;
            println!("removed {id} {key}");
        }
        ConfigCommand::List { id, json } => {
            plugin_id(id)?;
            let values = store.plugins.get(id).cloned().unwrap_or_default();
            if *json {
                print_json(&json!(values));
            } else if values.is_empty() {
                println!("{id} has no settings; set one with `pincer config set {id} KEY VALUE`");
            } else {
                for (k, v) in &values {
                    println!("{k:<24} {v}");
                }
            }
        }
    }
    Ok(())
}
