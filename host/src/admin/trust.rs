//! The publisher keys an admin trusts: adding one, revoking one. Both are audited.

use serde_json::json;

use super::AdminError;
use crate::audit::{Audit, Event};
use crate::store::Home;
use crate::store::plugins::PluginStore;
use crate::trust::{KeyId, PublisherKey, TrustStore, TrustedKey};

/// Trust `key` under `name`, audited as done by `actor`.
pub fn add(
    home: &Home,
    actor: &str,
    key: &PublisherKey,
    name: &str,
) -> Result<TrustedKey, AdminError> {
    let mut store = TrustStore::load(home)?;
    let entry = store.add(key, name)?.clone();
    store.save(home)?;
    Audit::open(home)?.record(
        actor,
        Event::TrustAdd,
        None,
        json!({ "key_id": entry.key_id, "name": entry.name }),
    )?;
    Ok(entry)
}

/// A key revoked, and the installed plugins it signed (refused from now on).
#[derive(Debug)]
pub struct Revoked {
    /// The key, with when it was revoked.
    pub key: TrustedKey,
    /// The ids of the installed plugins whose active version it signed.
    pub signed: Vec<String>,
}

/// Revoke the key `key_id` (as text, such as `pincer trust list` shows it), audited as
/// done by `actor`.
pub fn revoke(home: &Home, actor: &str, key_id: &str) -> Result<Revoked, AdminError> {
    let id: KeyId = key_id.parse().map_err(AdminError::BadKeyId)?;
    let mut store = TrustStore::load(home)?;
    let key = store.revoke(id)?.clone();
    store.save(home)?;
    Audit::open(home)?.record(
        actor,
        Event::TrustRevoke,
        None,
        json!({ "key_id": key.key_id, "name": key.name }),
    )?;
    let signed = PluginStore::new(home)
        .list()?
        .into_iter()
        .filter(|p| p.active.key_id == id)
        .map(|p| p.id)
        .collect();
    Ok(Revoked { key, signed })
}
