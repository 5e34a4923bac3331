//! The admin's settings for plugins: `secrets` and `config`, through
//! [`crate::admin::settings`].

use std::io::{IsTerminal, Read};

use serde_json::json;
use zeroize::Zeroizing;

use super::commands::{Failure, print_json};
use super::{ConfigCommand, SecretsCommand};
use crate::admin::settings;
use crate::audit::cli_actor;
use crate::caps::redact::MIN_SECRET_BYTES;
use crate::exit::Exit;
use crate::store::Home;

/// Read a secret value from standard input: without echo on a terminal, else all of
/// it, minus one trailing newline.
fn read_secret(name: &str) -> Result<Zeroizing<String>, Failure> {
    let value = if std::io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password(format!("Value for `{name}`: "))
                .map_err(|e| Failure::new(Exit::Host, format!("cannot read the value: {e}")))?,
        )
    } else {
        let mut text = Zeroizing::new(String::new());
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            Failure::new(
                Exit::Usage,
                format!("cannot read the value from standard input: {e}"),
            )
        })?;
        let trimmed = text.strip_suffix('\n').unwrap_or(&text);
        let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
        Zeroizing::new(trimmed.to_owned())
    };
    Ok(value)
}

pub(super) fn cmd_secrets(home: &Home, command: &SecretsCommand) -> Result<(), Failure> {
    match command {
        SecretsCommand::Set { id, name } => {
            settings::check_secret(id, name)?;
            let value = read_secret(name)?;
            let set = settings::set_secret(home, &cli_actor(), id, name, &value)?;
            println!("set secret `{name}` of {id}");
            if set.too_short_to_redact {
                eprintln!(
                    "warning: the value is shorter than {MIN_SECRET_BYTES} bytes, so Pincer will not redact it from the plugin's output (it would mangle ordinary text)"
                );
            }
            if let Some(version) = set.undeclared_by {
                eprintln!(
                    "note: installed {id} {version} does not declare `{name}` in [capabilities.secrets]; it cannot read it"
                );
            }
        }
        SecretsCommand::List { id, json } => {
            let names = settings::secret_names(home, id.as_deref())?;
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
            settings::remove_secret(home, &cli_actor(), id, name)?;
            println!("removed secret `{name}` of {id}");
        }
    }
    Ok(())
}

pub(super) fn cmd_config(home: &Home, command: &ConfigCommand) -> Result<(), Failure> {
    match command {
        ConfigCommand::Set { id, key, value } => {
            settings::set_config(home, &cli_actor(), id, key, value)?;
            println!("set {id} {key} = {value} (applies when the plugin next loads)");
        }
        ConfigCommand::Unset { id, key } => {
            settings::unset_config(home, &cli_actor(), id, key)?;
            println!("removed {id} {key}");
        }
        ConfigCommand::List { id, json } => {
            let values = settings::config_values(home, id)?;
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
