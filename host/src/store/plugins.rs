//! The store of installed plugins, under `$PINCER_HOME/plugins/`.
//!
//! ```text
//! plugins/<id>/state.json               what is installed: the active bundle (and its
//!                                       approval), a pending one, if any
//! plugins/<id>/v/<version>-<sha12>/     a verified bundle, byte for byte as signed
//! plugins/.staging-<random>/            a bundle being copied in
//! plugins/.lock                         held by whoever changes the store
//! ```
//!
//! A change is made in three steps: the bundle is written into a staging directory and
//! flushed; the directory is renamed to its final name; then `state.json` is replaced
//! atomically. The last rename is the commit: a process killed at any moment leaves
//! either the old `state.json`, which names only bundles that are complete, or the new
//! one. Leftovers (staging directories, bundles no state names) are removed by the next
//! change.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Home, HomeError};
use crate::policy::grants::GrantSet;
use crate::trust::{Bundle, KeyId, MANIFEST_FILE, SIGNATURE_FILE};

const ROOT: &str = "plugins";
const STATE: &str = "state.json";

/// Errors of the plugin store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// A plugin id that is not one.
    #[error("`{0}` is not a plugin id (such as com.example.files; see `pincer list`)")]
    BadId(String),
    /// A state file is unreadable.
    #[error("the install record {} is damaged: {why}; remove the plugin with `pincer remove ID` and install it again", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// An installed plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    /// Its id.
    pub id: String,
    /// The version that runs.
    pub active: Slot,
    /// A version waiting for an admin to approve wider grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Slot>,
    /// The prefix of its MCP tool names, when an admin chose one (see
    /// [`crate::mcp::alias`]); kept across updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// One verified bundle in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// Its directory, relative to `plugins/<id>/`.
    pub dir: String,
    /// The plugin version.
    pub version: String,
    /// The component's SHA-256.
    pub sha256: String,
    /// The signed manifest's SHA-256.
    pub manifest_sha256: String,
    /// The key that signed it.
    pub key_id: KeyId,
    /// That key's name in the trust store, at install time.
    pub signer: String,
    /// What its manifest asks for.
    pub grants: GrantSet,
    /// When it was installed.
    pub installed_at: String,
    /// The admin's approval, for the active slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

/// An admin's approval of a grant set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// SHA-256 of the canonical grant set that was approved.
    pub grants_digest: String,
    /// When.
    pub at: String,
    /// Who.
    pub by: String,
    /// For an `mcp-server` plugin, its tools as the admin approved them (see
    /// [`crate::tools::pins`]). `None` in an approval that predates pinning: every
    /// tool is then withheld until `pincer approve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<crate::tools::pins::Pins>,
}

/// The plugin store of a home directory.
pub struct PluginStore<'h> {
    home: &'h Home,
}

impl<'h> PluginStore<'h> {
    /// The store in `home`.
    pub fn new(home: &'h Home) -> Self {
        PluginStore { home }
    }

    fn state_path(id: &str) -> String {
        format!("{ROOT}/{id}/{STATE}")
    }

    /// Lock the store against other Pincer processes changing it; released on drop.
    pub fn lock(&self) -> Result<std::fs::File, StoreError> {
        Ok(self.home.lock(format!("{ROOT}/.lock"), true)?)
    }

    /// Lock the store against changes while reading it; others may read too.
    pub fn lock_shared(&self) -> Result<std::fs::File, StoreError> {
        Ok(self.home.lock(format!("{ROOT}/.lock"), false)?)
    }

    /// The installed plugin `id`, if there is one.
    pub fn get(&self, id: &str) -> Result<Option<Installed>, StoreError> {
        crate::manifest::PluginId::parse(id).map_err(|_| StoreError::BadId(id.to_owned()))?;
        let rel = Self::state_path(id);
        let Some(bytes) = self.home.read_optional(&rel)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Damaged {
                path: self.home.join(&rel),
                why: e.to_string(),
            })
    }

    /// Every installed plugin, by id.
    pub fn list(&self) -> Result<Vec<Installed>, StoreError> {
        let mut out = Vec::new();
        for name in self.home.list_dir(ROOT)? {
            if name.starts_with('.') {
                continue;
            }
            match self.get(&name) {
                Ok(Some(installed)) => out.push(installed),
                Ok(None) => {}
                // One damaged record must not hide the others.
                Err(e) => tracing::warn!("{e}"),
            }
        }
        Ok(out)
    }

    /// The absolute directory of `slot` of plugin `id`.
    pub fn slot_dir(&self, id: &str, slot: &Slot) -> PathBuf {
        self.home.join(format!("{ROOT}/{id}/{}", slot.dir))
    }

    /// Read the bundle of `slot` back from the store (to verify it again).
    pub fn read_slot(&self, id: &str, slot: &Slot) -> Result<Bundle, crate::trust::TrustError> {
        Bundle::read(&self.slot_dir(id, slot))
    }

    /// Copy the verified `bundle` into the store; returns its slot directory (relative
    /// to `plugins/<id>/`). Nothing refers to it until [`commit`](Self::commit). The
    /// directory's name holds the version and both digests, so an existing directory of
    /// that name that the current state names already holds these bytes, and is kept
    /// unless `replace` (a stored copy that no longer verifies).
    pub fn stage(
        &self,
        bundle: &Bundle,
        sha256: &str,
        replace: bool,
    ) -> Result<String, StoreError> {
        let id = bundle.manifest.plugin.id.as_str();
        let manifest_sha = crate::digest::sha256_hex(&bundle.manifest_bytes);
        let dir = format!(
            "v/{}-{}-{}",
            bundle.manifest.plugin.version,
            &sha256[..12],
            &manifest_sha[..8]
        );
        let target = format!("{ROOT}/{id}/{dir}");
        let named = self.get(id).ok().flatten().is_some_and(|s| {
            s.active.dir == dir || s.pending.as_ref().is_some_and(|p| p.dir == dir)
        });
        if named && !replace {
            return Ok(dir);
        }
        let staging = format!("{ROOT}/.staging-{:016x}", rand::random::<u64>());
        self.home.create_dir_all(&staging)?;
        let component = bundle
            .manifest
            .component
            .file
            .to_string_lossy()
            .into_owned();
        if let Some(parent) = std::path::Path::new(&component).parent()
            && !parent.as_os_str().is_empty()
        {
            self.home
                .create_dir_all(format!("{staging}/{}", parent.display()))?;
        }
        let signature = bundle.signature.as_deref().unwrap_or_default();
        self.home.write_new(
            format!("{staging}/{MANIFEST_FILE}"),
            &bundle.manifest_bytes,
            0o600,
        )?;
        self.home.write_new(
            format!("{staging}/{SIGNATURE_FILE}"),
            signature.as_bytes(),
            0o600,
        )?;
        self.home
            .write_new(format!("{staging}/{component}"), &bundle.component, 0o600)?;
        self.home.create_dir_all(format!("{ROOT}/{id}/v"))?;
        // Not named by the state: a leftover of a killed install. Named (and being
        // replaced): a damaged copy that no longer loads anyway.
        self.home.remove_dir_all(&target)?;
        self.home.rename(&staging, &target)?;
        Ok(dir)
    }

    /// Make `installed` the plugin's state: the commit point of every change.
    pub fn commit(&self, installed: &Installed) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(installed).expect("install records serialise");
        self.home
            .write_atomic(Self::state_path(&installed.id), &bytes, 0o600)?;
        self.collect_garbage(&installed.id)
    }

    /// Remove plugin `id` from the store: its state first (the commit), then its
    /// bundles. Its data directory is kept.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        crate::manifest::PluginId::parse(id).map_err(|_| StoreError::BadId(id.to_owned()))?;
        self.home.remove_file(Self::state_path(id))?;
        self.home.remove_dir_all(format!("{ROOT}/{id}"))?;
        Ok(())
    }

    /// Remove staging leftovers, and bundles of `id` that its state does not name.
    pub fn collect_garbage(&self, id: &str) -> Result<(), StoreError> {
        for name in self.home.list_dir(ROOT)? {
            if name.starts_with(".staging-") {
                self.home.remove_dir_all(format!("{ROOT}/{name}"))?;
            }
        }
        let keep: Vec<String> = match self.get(id)? {
            Some(s) => std::iter::once(s.active.dir)
                .chain(s.pending.map(|p| p.dir))
                .collect(),
            None => Vec::new(),
        };
        for name in self.home.list_dir(format!("{ROOT}/{id}/v"))? {
            let dir = format!("v/{name}");
            if !keep.contains(&dir) {
                self.home.remove_dir_all(format!("{ROOT}/{id}/{dir}"))?;
            }
        }
        Ok(())
    }
}
