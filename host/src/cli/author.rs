//! The plugin author's commands: `keygen`, `pack`, `sign`, `verify`.

use std::io::IsTerminal;
use std::path::Path;

use serde_json::json;

use super::KeyArgs;
use super::commands::{Failure, print_json};
use crate::store::Home;
use crate::trust::{self, Bundle, PublisherKey, SigningKey, TrustError, TrustStore};

/// The key's password: the first line of `file`, or asked on the terminal (twice when
/// `confirm`).
fn password(file: Option<&Path>, confirm: bool) -> Result<String, TrustError> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(TrustError::io(file))?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(TrustError::Refused(
            "no terminal to ask for the key's password: pass --password-file FILE (or, for keygen, --unencrypted)".into(),
        ));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map_err(|e| TrustError::Refused(format!("cannot read the password: {e}")))
    };
    let first = ask("Password: ")?;
    if confirm && ask("Password (again): ")? != first {
        return Err(TrustError::Refused("the passwords differ".into()));
    }
    Ok(first)
}

fn signing_key(key: &KeyArgs) -> Result<SigningKey, TrustError> {
    SigningKey::load(&key.key, || password(key.password_file.as_deref(), false))
}

pub(super) fn cmd_keygen(
    out: &Path,
    unencrypted: bool,
    password_file: Option<&Path>,
    json: bool,
) -> Result<(), Failure> {
    let pass = if unencrypted {
        None
    } else {
        Some(password(password_file, true)?)
    };
    let (id, sk, pk) = trust::keygen(out, pass)?;
    if json {
        print_json(
            &json!({ "key_id": id, "secret_key": sk, "public_key": pk, "encrypted": !unencrypted }),
        );
        return Ok(());
    }
    println!("key {id}");
    println!(
        "  secret key  {} (mode 0600{})",
        sk.display(),
        if unencrypted {
            ", NOT encrypted"
        } else {
            ", encrypted"
        }
    );
    println!("  public key  {}", pk.display());
    println!(
        "Give {} to admins: `pincer trust add {} --name NAME`",
        pk.display(),
        pk.display()
    );
    Ok(())
}

pub(super) fn cmd_pack(
    manifest: &Path,
    component: Option<&Path>,
    key: &KeyArgs,
    out: &Path,
    json: bool,
) -> Result<(), Failure> {
    let key = signing_key(key)?;
    let report = trust::pack(manifest, component, &key, out)?;
    if json {
        print_json(&serde_json::to_value(&report).expect("reports serialise"));
        return Ok(());
    }
    println!(
        "packed {} {} into {}",
        report.plugin,
        report.version,
        report.dir.display()
    );
    println!(
        "  component  {} bytes, sha256 {}",
        report.size, report.sha256
    );
    println!("  signed by  key {}", report.key_id);
    println!("Next: `pincer review {}`", report.dir.display());
    Ok(())
}

pub(super) fn cmd_sign(manifest: &Path, key: &KeyArgs) -> Result<(), Failure> {
    let key = signing_key(key)?;
    let sig = trust::sign_manifest_file(manifest, &key)?;
    println!(
        "signed {} with key {}: {}",
        manifest.display(),
        key.id,
        sig.display()
    );
    Ok(())
}

pub(super) fn cmd_verify(
    home: &Home,
    dir: &Path,
    pubkey: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let bundle = Bundle::read(dir)?;
    let verified = match pubkey {
        Some(p) => bundle.verify_with(&PublisherKey::from_arg(p)?, "given with --pubkey")?,
        None => bundle.verify(&TrustStore::load(home)?)?,
    };
    if json {
        print_json(&json!({
            "ok": true,
            "plugin": bundle.manifest.plugin.id,
            "version": bundle.manifest.plugin.version.to_string(),
            "key_id": verified.key_id,
            "signer": verified.signer,
            "sha256": verified.sha256,
            "trusted_comment": verified.trusted_comment,
        }));
        return Ok(());
    }
    println!(
        "ok: {} {} is signed by key {} ({}); component sha256 {} matches",
        bundle.manifest.plugin.id,
        bundle.manifest.plugin.version,
        verified.key_id,
        verified.signer,
        verified.sha256
    );
    Ok(())
}
