//! The admin's workflow: review a bundle, install it (with the admin's approval),
//! approve a pending update, remove a plugin. Every decision is audited.
//!
//! A plugin id belongs to the key that signed its approved version: an update signed
//! by another key is refused unless the admin accepts the new signer
//! ([`Options::accept_signer`]). Removing a plugin removes everything kept for it
//! (secrets, config, key-value store, data, temp, tool pins) unless the admin keeps
//! its data, which then stays bound to the key that signed it ([`kept`]).
//!
//! Install verifies the bundle in memory (signature, trusted comment, digest, manifest,
//! import audit, downgrade), shows the review, asks, then copies exactly the verified
//! bytes into the store and commits (see [`crate::store::plugins`] for why a kill at any
//! moment leaves the store consistent). An update whose grants are wider than the
//! approved ones is kept *pending* and the approved version keeps running until
//! [`approve`].

pub mod review;
pub mod tools;

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::audit::{AuditError, Event, now_rfc3339};
use crate::policy::grants::Change;
use crate::runtime::Runtime;
use crate::store::plugins::{Approval, Installed, PluginStore, Slot, StoreError};
use crate::trust::{KeyId, TrustError, TrustStore};
pub use review::{Review, review};

/// Why an install, approval or removal did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The bundle could not be read or verified.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A check failed; nothing was installed.
    #[error("{plugin} is refused; nothing was installed:\n{}", reasons.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n"))]
    Refused {
        /// The plugin.
        plugin: String,
        /// Each failed check.
        reasons: Vec<String>,
    },
    /// The admin said no (or there was nobody to ask).
    #[error("{0}")]
    Declined(String),
    /// No such plugin.
    #[error("plugin `{0}` is not installed (see `pincer list`)")]
    NotInstalled(String),
    /// Nothing is waiting for approval.
    #[error("plugin `{id}` has no pending update: version {version} is installed and approved")]
    NothingPending {
        /// The plugin.
        id: String,
        /// Its installed version.
        version: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Removing a plugin's secrets, config or data failed part way (its bundles are
    /// gone; `pincer remove ID` again finishes the job).
    #[error(
        "cannot delete the {what} of {plugin}: {why}; run `pincer remove {plugin}` again to finish"
    )]
    Cleanup {
        /// The plugin.
        plugin: String,
        /// What could not be deleted.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] crate::store::HomeError),
    /// The audit trail failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallOutcome {
    /// The plugin.
    pub plugin: String,
    /// The bundle's version.
    pub version: String,
    /// `installed`, `updated`, `pending-approval`, `repaired` or `unchanged`.
    pub outcome: &'static str,
    /// The version that runs now.
    pub active_version: String,
}

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Allow a lower version than the installed one.
    pub allow_downgrade: bool,
    /// The prefix of an `mcp-server` plugin's tool names, instead of the last segment
    /// of its id (see [`crate::mcp::alias`]).
    pub alias: Option<String>,
    /// Accept this key as the id's new signer: for an update (or data kept from a
    /// removed plugin) signed by a key other than the one the id belongs to. By
    /// default none: such a bundle is refused.
    pub accept_signer: Option<KeyId>,
}

/// Data kept from a removed plugin (`pincer remove --keep-data`): whose it is.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Kept {
    /// The key that signed the removed version; `None` for data an older Pincer left
    /// behind without saying whose it was.
    pub key_id: Option<KeyId>,
    /// The name the admin gave that key.
    pub signer: String,
    /// The removed version.
    pub version: String,
}

/// Where the record of `id`'s kept data is.
fn kept_path(id: &str) -> String {
    format!("kept/{id}.json")
}

/// The record of data kept for the id `id`, which is not installed (`pincer remove
/// --keep-data`), or `None`. Data without a record (made by `pincer dev` in the same
/// home, or left by an older Pincer) is bound to no key; nor are secrets set for an id
/// before it is installed, which are the admin's provisioning.
pub fn kept(home: &crate::store::Home, id: &str) -> Result<Option<Kept>, StoreError> {
    match home.read_optional(kept_path(id))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Damaged {
                path: home.join(kept_path(id)),
                why: e.to_string(),
            }),
    }
}

/// Whether anything is kept for `id` outside the store: a record, data, temp or a
/// key-value store.
fn leftovers(home: &crate::store::Home, id: &str) -> Result<bool, StoreError> {
    Ok(kept(home, id)?.is_some()
        || ["data", "tmp"]
            .iter()
            .any(|dir| home.join(format!("{dir}/{id}")).symlink_metadata().is_ok())
        || home.join(format!("kv/{id}.sqlite")).exists())
}

/// Install the bundle in `dir`. `confirm` sees the review and says whether the admin
/// approves; it is not asked when the review refuses the bundle or nothing changes.
pub fn install(
    runtime: &Runtime,
    actor: &str,
    dir: &Path,
    options: &Options,
    confirm: impl FnOnce(&Review) -> Result<bool, InstallError>,
) -> Result<InstallOutcome, InstallError> {
    let allow_downgrade = options.allow_downgrade;
    let home = runtime.home();
    let store = PluginStore::new(home);
    let _lock = store.lock()?;
    let audit = runtime.audit();
    let review = match review(runtime, dir, allow_downgrade, options.accept_signer) {
        Ok(r) => r,
        Err(e) => {
            audit.record(
                actor,
                Event::Refuse,
                None,
                json!({ "bundle": dir, "check": e.check(), "reason": e.to_string() }),
            )?;
            return Err(e.into());
        }
    };
    let id = review.plugin.id.clone();
    let version = review.plugin.version.clone();
    if review.refused() {
        audit.record(
            actor,
            Event::Refuse,
            Some(&id),
            json!({ "version": version, "reasons": review.verdict.reasons }),
        )?;
        return Err(InstallError::Refused {
            plugin: format!("{id} {version}"),
            reasons: review.verdict.reasons.clone(),
        });
    }
    // Two plugins must never expose the same tool name: refused now, never at call time.
    let alias = match (&review.state, &options.alias) {
        (_, Some(alias)) => Some(alias.clone()),
        (Some(old), None) => old.alias.clone(),
        (None, None) => None,
    };
    let is_mcp = review.grants.kind == crate::manifest::PluginKind::McpServer.as_str();
    let same_bundle = matches!(review.verdict.outcome, "unchanged" | "repair");
    let alias_problem = if options.alias.is_some() && same_bundle {
        Some(format!(
            "{id} {version} is installed already; change its alias with `pincer alias {id} NAME`"
        ))
    } else if is_mcp {
        let served_as = alias
            .as_deref()
            .unwrap_or_else(|| crate::mcp::alias::default_alias(&id));
        crate::mcp::alias::check_free(&store, &id, served_as).err()
    } else {
        options.alias.as_ref().map(|_| {
            format!(
                "--alias is for mcp-server plugins, and this is a `{}` plugin",
                review.grants.kind
            )
        })
    };
    if let Some(why) = alias_problem {
        audit.record(
            actor,
            Event::Refuse,
            Some(&id),
            json!({ "version": version, "reasons": [why] }),
        )?;
        return Err(InstallError::Refused {
            plugin: format!("{id} {version}"),
            reasons: vec![why],
        });
    }
    // (Reinstalling the same bundle changes nothing, its alias included: that is
    // `pincer alias`'s job.)
    if review.verdict.outcome == "unchanged" {
        return Ok(InstallOutcome {
            plugin: id,
            active_version: version.clone(),
            version,
            outcome: "unchanged",
        });
    }
    if !confirm(&review)? {
        audit.record(
            actor,
            Event::Refuse,
            Some(&id),
            json!({ "version": version, "reasons": ["the admin declined"] }),
        )?;
        return Err(InstallError::Declined(format!(
            "not installed: {id} {version} was not approved"
        )));
    }

    let signature = &review.signature;
    let repair = review.verdict.outcome == "repair";
    let slot_dir = store.stage(&review.bundle_data, &review.digest.found, repair)?;
    let now = now_rfc3339();
    let slot = Slot {
        dir: slot_dir,
        version: version.clone(),
        sha256: review.digest.found.clone(),
        manifest_sha256: crate::digest::sha256_hex(&review.bundle_data.manifest_bytes),
        key_id: signature.key_id.expect("a verified bundle has a key"),
        signer: signature.signer.clone().unwrap_or_default(),
        grants: review.grants.clone(),
        installed_at: now.clone(),
        approval: None,
    };
    let approved = |mut slot: Slot| {
        slot.approval = Some(Approval {
            grants_digest: review.grants_digest.clone(),
            at: now.clone(),
            by: actor.to_owned(),
            tools: review.pins(),
        });
        slot
    };
    let (state, outcome, event) = match review.state.clone() {
        Some(old) if repair => (old, "repaired", Event::Install),
        None => (
            Installed {
                id: id.clone(),
                active: approved(slot),
                pending: None,
                alias,
            },
            "installed",
            Event::Install,
        ),
        Some(old) if review.verdict.outcome == "pending-approval" => (
            Installed {
                pending: Some(slot),
                alias,
                ..old
            },
            "pending-approval",
            Event::Pending,
        ),
        Some(old) => (
            Installed {
                id: old.id,
                active: approved(slot),
                pending: None,
                alias,
            },
            "updated",
            Event::Install,
        ),
    };
    store.commit(&state)?;
    // Kept data now belongs to this install (its key was checked by the review).
    if review.state.is_none() {
        home.remove_file(kept_path(&id))?;
    }
    let changes: Vec<&str> = review
        .installed
        .iter()
        .flat_map(|d| &d.changes)
        .map(|c| c.change.as_str())
        .collect();
    audit.record(
        actor,
        event,
        Some(&id),
        json!({
            "version": version,
            "outcome": outcome,
            "sha256": review.digest.found,
            "key_id": signature.key_id,
            "grants_digest": review.grants_digest,
            "risk": review.risk,
            "changes": changes,
        }),
    )?;
    if let Some(change) = &review.signer_change {
        audit.record(
            actor,
            Event::SignerChange,
            Some(&id),
            json!({
                "version": version,
                "from_key": change.from_key,
                "from_signer": change.from_signer,
                "to_key": change.to_key,
                "outcome": outcome,
            }),
        )?;
    }
    Ok(InstallOutcome {
        plugin: id,
        version,
        outcome,
        active_version: state.active.version,
    })
}

/// What `approve` changed.
#[derive(Debug, Clone, Serialize)]
pub struct ApproveOutcome {
    /// The plugin.
    pub plugin: String,
    /// The version that was approved and now runs.
    pub version: String,
    /// The version it replaced.
    pub previous: String,
    /// The grant changes that were approved.
    pub changes: Vec<Change>,
}

/// The pending update of `id` and how its grants differ from the approved ones.
pub fn pending(runtime: &Runtime, id: &str) -> Result<(Installed, Vec<Change>), InstallError> {
    let store = PluginStore::new(runtime.home());
    let state = store
        .get(id)?
        .ok_or_else(|| InstallError::NotInstalled(id.to_owned()))?;
    let Some(pending) = &state.pending else {
        return Err(InstallError::NothingPending {
            id: id.to_owned(),
            version: state.active.version.clone(),
        });
    };
    let changes = pending.grants.changes_from(&state.active.grants);
    Ok((state, changes))
}

/// Approve the pending update of `id`: verify its bundle again, show the changes to
/// `confirm`, then make it the active version.
pub fn approve(
    runtime: &Runtime,
    actor: &str,
    id: &str,
    confirm: impl FnOnce(&Installed, &[Change]) -> Result<bool, InstallError>,
) -> Result<ApproveOutcome, InstallError> {
    let home = runtime.home();
    let store = PluginStore::new(home);
    let _lock = store.lock()?;
    let (state, changes) = pending(runtime, id)?;
    let pending = state.pending.clone().expect("checked by `pending`");
    let bundle = store.read_slot(id, &pending)?;
    let checked = bundle.verify(&TrustStore::load(home)?).and_then(|v| {
        let grants = crate::policy::grants::GrantSet::of(&bundle.manifest);
        let same = v.sha256 == pending.sha256
            && crate::digest::sha256_hex(&bundle.manifest_bytes) == pending.manifest_sha256
            && grants == pending.grants;
        if same {
            Ok(v)
        } else {
            Err(TrustError::Refused(format!(
                "the stored pending bundle of {id} is not the one that was installed as pending; install it again"
            )))
        }
    });
    if let Err(e) = checked {
        runtime.audit().record(
            actor,
            Event::Refuse,
            Some(id),
            json!({ "version": pending.version, "check": e.check(), "reason": e.to_string() }),
        )?;
        return Err(InstallError::Refused {
            plugin: format!("{id} {}", pending.version),
            reasons: vec![e.to_string()],
        });
    }
    // An update that makes the plugin an MCP server claims its alias now.
    if pending.grants.kind == crate::manifest::PluginKind::McpServer.as_str()
        && let Err(why) =
            crate::mcp::alias::check_free(&store, id, crate::mcp::alias::alias_of(&state))
    {
        runtime.audit().record(
            actor,
            Event::Refuse,
            Some(id),
            json!({ "version": pending.version, "reasons": [why] }),
        )?;
        return Err(InstallError::Refused {
            plugin: format!("{id} {}", pending.version),
            reasons: vec![why],
        });
    }
    if !confirm(&state, &changes)? {
        return Err(InstallError::Declined(format!(
            "not approved: {id} {} stays pending and {} keeps running",
            pending.version, state.active.version
        )));
    }
    let digest = pending.grants.digest();
    let previous = state.active.version.clone();
    let active = Slot {
        approval: Some(Approval {
            grants_digest: digest.clone(),
            at: now_rfc3339(),
            by: actor.to_owned(),
            // The tools stay pinned as they were approved; the new version's changed
            // or new tools wait for `approve_tools`.
            tools: state.active.approval.as_ref().and_then(|a| a.tools.clone()),
        }),
        ..pending
    };
    let version = active.version.clone();
    store.commit(&Installed {
        id: id.to_owned(),
        active,
        pending: None,
        alias: state.alias.clone(),
    })?;
    runtime.audit().record(
        actor,
        Event::Approve,
        Some(id),
        json!({
            "version": version,
            "previous": previous,
            "grants_digest": digest,
            "changes": changes.iter().map(|c| &c.change).collect::<Vec<_>>(),
        }),
    )?;
    Ok(ApproveOutcome {
        plugin: id.to_owned(),
        version,
        previous,
        changes,
    })
}

/// What `remove` did.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    /// The plugin.
    pub plugin: String,
    /// The version that was installed; `None` when only kept data was removed.
    pub version: Option<String>,
    /// Whether its data was kept (bound to the key that signed it).
    pub kept: bool,
    /// What was deleted: `secrets`, `config`, `kv`, `data`, `temp` (those there were).
    pub deleted: Vec<&'static str>,
}

/// Remove the plugin `id`: its installed bundles and tool pins, and unless `keep_data`
/// its secrets, config, key-value store, data and temp directories too. Kept data is
/// recorded as the signing key's ([`kept`]): it passes only to an install signed by the
/// same key, or one the admin accepts. For an id that is not installed but has kept
/// data, removes that data.
pub fn remove(
    runtime: &Runtime,
    actor: &str,
    id: &str,
    keep_data: bool,
) -> Result<Removed, InstallError> {
    let home = runtime.home();
    let store = PluginStore::new(home);
    let _lock = store.lock()?;
    let state = store.get(id)?;
    if state.is_none() && !leftovers(home, id)? {
        return Err(InstallError::NotInstalled(id.to_owned()));
    }
    if let Some(state) = &state {
        // Bound to the key first, whatever happens next: a removal that fails half way
        // leaves what is left bound, not free for any publisher's install of this id.
        let record = Kept {
            key_id: Some(state.active.key_id),
            signer: state.active.signer.clone(),
            version: state.active.version.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&record).expect("a record serialises");
        home.create_dir_all("kept")?;
        home.write_atomic(kept_path(id), &bytes, 0o600)?;
        store.remove(id)?;
    }
    let deleted = if keep_data {
        Vec::new()
    } else {
        delete_data(runtime, id)?
    };
    runtime.audit().record(
        actor,
        Event::Remove,
        Some(id),
        json!({
            "version": state.as_ref().map(|s| &s.active.version),
            "kept_data": keep_data,
            "deleted": deleted,
        }),
    )?;
    Ok(Removed {
        plugin: id.to_owned(),
        version: state.map(|s| s.active.version),
        kept: keep_data,
        deleted,
    })
}

/// Delete everything kept for `id` outside its installed bundles; which kinds there
/// were. The directories go without following any link in them.
fn delete_data(runtime: &Runtime, id: &str) -> Result<Vec<&'static str>, InstallError> {
    let home = runtime.home();
    let failed = |what: &'static str, e: &dyn std::fmt::Display| InstallError::Cleanup {
        plugin: id.to_owned(),
        what,
        why: e.to_string(),
    };
    let mut deleted = Vec::new();
    let vault = crate::vault::Vault::open(home).map_err(|e| failed("secrets", &e))?;
    let names = vault.names(Some(id)).map_err(|e| failed("secrets", &e))?;
    for name in names.values().flatten() {
        vault.remove(id, name).map_err(|e| failed("secrets", &e))?;
    }
    if !names.is_empty() {
        deleted.push("secrets");
    }
    {
        let _lock = home.lock(crate::caps::config::LOCK, true)?;
        let mut config =
            crate::caps::config::ConfigStore::load(home).map_err(|e| failed("config", &e))?;
        if config.plugins.remove(id).is_some() {
            config.save(home).map_err(|e| failed("config", &e))?;
            deleted.push("config");
        }
    }
    let mut kv = false;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = format!("kv/{id}.sqlite{suffix}");
        kv |= home.join(&file).exists();
        home.remove_file(&file)?;
    }
    if kv {
        deleted.push("kv");
    }
    for (what, dir) in [("data", "data"), ("temp", "tmp")] {
        let rel = format!("{dir}/{id}");
        if home.join(&rel).symlink_metadata().is_ok() {
            home.remove_dir_all(&rel)?;
            deleted.push(what);
        }
    }
    home.remove_file(kept_path(id))?;
    Ok(deleted)
}

/// Serve the `mcp-server` plugin `id`'s tools under `alias` (`None`: the default, the
/// last segment of its id). Refused when another plugin is served under it.
pub fn set_alias(
    runtime: &Runtime,
    actor: &str,
    id: &str,
    alias: Option<&str>,
) -> Result<String, InstallError> {
    let store = PluginStore::new(runtime.home());
    let _lock = store.lock()?;
    let mut state = store
        .get(id)?
        .ok_or_else(|| InstallError::NotInstalled(id.to_owned()))?;
    if !crate::mcp::alias::is_mcp(&state) {
        return Err(InstallError::Declined(format!(
            "plugin {id} is a `{}` plugin; only mcp-server plugins have tool names",
            state.active.grants.kind
        )));
    }
    let served_as = alias.unwrap_or_else(|| crate::mcp::alias::default_alias(id));
    crate::mcp::alias::check_free(&store, id, served_as).map_err(|why| InstallError::Refused {
        plugin: id.to_owned(),
        reasons: vec![why],
    })?;
    let previous = crate::mcp::alias::alias_of(&state).to_owned();
    state.alias = alias.map(str::to_owned);
    store.commit(&state)?;
    runtime.audit().record(
        actor,
        Event::AliasSet,
        Some(id),
        json!({ "alias": served_as, "previous": previous }),
    )?;
    Ok(served_as.to_owned())
}
