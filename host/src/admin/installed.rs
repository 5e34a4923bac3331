//! An installed plugin as the command line (`pincer list --json`, `pincer info
//! --json`) and the gateway (`GET /v1/plugins`) show it: one typed shape for both.

use serde::Serialize;

use crate::policy::grants::{Change, GrantSet};
use crate::policy::risk::{self, Risk};
use crate::store::plugins::{Approval, Installed};
use crate::trust::KeyId;

/// An installed plugin: its active version, and an update waiting for approval.
#[derive(Debug, Serialize)]
pub struct InstalledSummary<'a> {
    /// The plugin id.
    pub id: &'a str,
    /// The version that runs.
    pub version: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// Its component's SHA-256.
    pub sha256: &'a str,
    /// The key that signed it.
    pub key_id: &'a KeyId,
    /// That key's name in the trust store.
    pub signer: &'a str,
    /// The highest risk of its grants.
    pub risk: Risk,
    /// When it was installed.
    pub installed_at: &'a str,
    /// Who approved its grants, and when.
    pub approval: &'a Option<Approval>,
    /// Its grants, canonical.
    pub grants: &'a GrantSet,
    /// An update that waits for `pincer approve`.
    pub pending: Option<PendingUpdate<'a>>,
}

/// An update that waits for `pincer approve`.
#[derive(Debug, Serialize)]
pub struct PendingUpdate<'a> {
    /// Its version.
    pub version: &'a str,
    /// Its component's SHA-256.
    pub sha256: &'a str,
    /// The key that signed it.
    pub key_id: &'a KeyId,
    /// When it was stored.
    pub installed_at: &'a str,
    /// How its grants differ from the active version's.
    pub changes: Vec<Change>,
}

impl<'a> InstalledSummary<'a> {
    /// The summary of `p`.
    pub fn of(p: &'a Installed) -> Self {
        let a = &p.active;
        InstalledSummary {
            id: &p.id,
            version: &a.version,
            kind: &a.grants.kind,
            sha256: &a.sha256,
            key_id: &a.key_id,
            signer: &a.signer,
            risk: risk::overall(&risk::assess(&a.grants)),
            installed_at: &a.installed_at,
            approval: &a.approval,
            grants: &a.grants,
            pending: p.pending.as_ref().map(|s| PendingUpdate {
                version: &s.version,
                sha256: &s.sha256,
                key_id: &s.key_id,
                installed_at: &s.installed_at,
                changes: s.grants.changes_from(&a.grants),
            }),
        }
    }

    /// As JSON, with its keys sorted (as `pincer` prints every object).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an installed plugin serialises")
    }
}
