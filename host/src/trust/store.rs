//! The trust store, `$PINCER_HOME/trust.json`: the publisher keys an admin trusts, and
//! the ones they revoked. A revoked key stays listed, so a bundle it signed is refused
//! as *revoked* (not merely unknown), and it cannot be trusted again by mistake.

use serde::{Deserialize, Serialize};

use super::{KeyId, PublisherKey, TrustError};
use crate::store::Home;

/// The trust store's file, relative to `$PINCER_HOME`.
pub const FILE: &str = "trust.json";

/// A key in the trust store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedKey {
    /// Its id.
    pub key_id: KeyId,
    /// The name the admin gave the publisher.
    pub name: String,
    /// The base64 public key.
    pub public_key: String,
    /// When it was added (RFC 3339).
    pub added_at: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyStatus {
    /// In the store, not revoked.
    Trusted,
    /// In the store, revoked.
    Revoked,
    /// Not in the store.
    Unknown,
}

/// The trust store. By default (no file) it trusts nothing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustStore {
    /// The keys, in the order they were added.
    pub keys: Vec<TrustedKey>,
}

impl TrustStore {
    /// Read the trust store of `home`; an absent file is an empty store.
    pub fn load(home: &Home) -> Result<Self, TrustError> {
        match home.read_optional(FILE)? {
            None => Ok(TrustStore::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| TrustError::Store {
                path: home.join(FILE),
                why: e.to_string(),
            }),
        }
    }

    /// Write the trust store atomically.
    pub fn save(&self, home: &Home) -> Result<(), TrustError> {
        let text = serde_json::to_vec_pretty(self).expect("the trust store serialises");
        home.write_atomic(FILE, &text, 0o600)?;
        Ok(())
    }

    /// The entry for `id`, if any.
    pub fn get(&self, id: KeyId) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.key_id == id)
    }

    /// Where `id` stands.
    pub fn status(&self, id: KeyId) -> KeyStatus {
        match self.get(id) {
            None => KeyStatus::Unknown,
            Some(k) if k.revoked_at.is_some() => KeyStatus::Revoked,
            Some(_) => KeyStatus::Trusted,
        }
    }

    /// The key `id` if it is trusted now, else the error that explains why not.
    pub fn trusted(&self, id: KeyId) -> Result<(PublisherKey, &TrustedKey), TrustError> {
        match self.get(id) {
            None => Err(TrustError::UnknownKey {
                key_id: id,
                trusted: self.trusted_ids(),
            }),
            Some(k) => match &k.revoked_at {
                Some(at) => Err(TrustError::RevokedKey {
                    key_id: id,
                    name: k.name.clone(),
                    revoked_at: at.clone(),
                }),
                None => Ok((PublisherKey::parse(&k.public_key, &k.name)?, k)),
            },
        }
    }

    fn trusted_ids(&self) -> String {
        let ids: Vec<String> = self
            .keys
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| format!("{} {}", k.key_id, k.name))
            .collect();
        if ids.is_empty() {
            "none".into()
        } else {
            ids.join(", ")
        }
    }

    /// Trust `key` under `name`. Refuses a key that is already present (trusted or
    /// revoked) and a name already in use.
    pub fn add(&mut self, key: &PublisherKey, name: &str) -> Result<&TrustedKey, TrustError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(TrustError::Refused(
                "--name must be 1 to 64 printable characters, such as --name \"Example Corp\""
                    .into(),
            ));
        }
        if let Some(existing) = self.get(key.id) {
            return Err(TrustError::Refused(match &existing.revoked_at {
                Some(at) => format!(
                    "key {} ({}) was revoked on {at}; a revoked key cannot be trusted again: ask the publisher for a new key",
                    key.id, existing.name
                ),
                None => format!("key {} is already trusted as `{}`", key.id, existing.name),
            }));
        }
        if let Some(other) = self.keys.iter().find(|k| k.name == name) {
            return Err(TrustError::Refused(format!(
                "the name `{name}` is already used by key {}; choose another --name",
                other.key_id
            )));
        }
        self.keys.push(TrustedKey {
            key_id: key.id,
            name: name.to_owned(),
            public_key: key.base64.clone(),
            added_at: crate::audit::now_rfc3339(),
            revoked_at: None,
        });
        Ok(self.keys.last().expect("just pushed"))
    }

    /// Revoke the key `id`; bundles it signed are refused from now on, installed ones
    /// included.
    pub fn revoke(&mut self, id: KeyId) -> Result<&TrustedKey, TrustError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.key_id == id)
            .ok_or_else(|| {
                TrustError::Refused(format!(
                    "key {id} is not in the trust store (see `pincer trust list`)"
                ))
            })?;
        if let Some(at) = &key.revoked_at {
            return Err(TrustError::Refused(format!(
                "key {id} ({}) was already revoked on {at}",
                key.name
            )));
        }
        key.revoked_at = Some(crate::audit::now_rfc3339());
        Ok(key)
    }
}
