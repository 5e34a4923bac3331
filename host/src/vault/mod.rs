//! The secrets vault: `$PINCER_HOME/vault.json` (0600), each value encrypted with
//! AES-256-GCM under a 256-bit master key (`keys/vault.key`, 0600, generated on first
//! use).
//!
//! Every value has its own random 96-bit nonce, and the plugin id and the secret's name
//! are bound in as associated data: a ciphertext copied to another name or another
//! plugin fails to decrypt instead of leaking under the wrong name. Decrypted values
//! live in [`Zeroizing`] buffers, wiped when dropped. This module never logs, audits or
//! formats a value; errors name the plugin and the secret, never the content.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::store::{Home, HomeError};

const FILE: &str = "vault.json";
const KEY: &str = "keys/vault.key";
const LOCK: &str = "keys/vault.lock";

/// Errors of the vault. None carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The home directory failed (the key file included).
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The vault file is not valid.
    #[error(
        "the vault {path} is damaged: {why}; restore it from a backup or set the secrets again"
    )]
    Damaged {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// A value failed to decrypt: tampered, moved, or encrypted under another key.
    #[error(
        "secret `{name}` of plugin `{plugin}` does not decrypt: the vault was changed, the value was moved from another name or plugin, or keys/vault.key was replaced; set it again with `pincer secrets set {plugin} {name}`"
    )]
    Decrypt {
        /// The plugin.
        plugin: String,
        /// The secret's name.
        name: String,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct VaultFile {
    /// plugin id -> secret name -> sealed value.
    secrets: BTreeMap<String, BTreeMap<String, Sealed>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sealed {
    /// 96-bit nonce, base64.
    nonce: String,
    /// Ciphertext and tag, base64.
    ciphertext: String,
    /// When it was set.
    set_at: String,
}

/// The vault of one home directory.
pub struct Vault {
    home: Home,
    cipher: Aes256Gcm,
}

fn aad(plugin: &str, name: &str) -> Vec<u8> {
    format!("pincer-secret\0{plugin}\0{name}").into_bytes()
}

impl Vault {
    /// Open the vault of `home`, creating its master key on first use.
    pub fn open(home: &Home) -> Result<Self, VaultError> {
        let key = Zeroizing::new(home.secret_key::<32>(KEY)?);
        Ok(Vault {
            home: Home::open_at(home.path())?,
            cipher: Aes256Gcm::new(key.as_slice().into()),
        })
    }

    fn load(&self) -> Result<VaultFile, VaultError> {
        match self.home.read_optional(FILE)? {
            None => Ok(VaultFile::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| VaultError::Damaged {
                path: self.home.join(FILE).display().to_string(),
                why: e.to_string(),
            }),
        }
    }

    fn save(&self, file: &VaultFile) -> Result<(), VaultError> {
        let bytes = serde_json::to_vec_pretty(file).expect("the vault serialises");
        self.home.write_atomic(FILE, &bytes, 0o600)?;
        Ok(())
    }

    /// Set secret `name` of `plugin` to `value`.
    pub fn set(&self, plugin: &str, name: &str, value: &[u8]) -> Result<(), VaultError> {
        let _lock = self.home.lock(LOCK, true)?;
        let mut file = self.load()?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value,
                    aad: &aad(plugin, name),
                },
            )
            .expect("AES-GCM encryption of a bounded value does not fail");
        let b64 = base64::engine::general_purpose::STANDARD;
        file.secrets.entry(plugin.to_owned()).or_default().insert(
            name.to_owned(),
            Sealed {
                nonce: b64.encode(nonce),
                ciphertext: b64.encode(ciphertext),
                set_at: crate::audit::now_rfc3339(),
            },
        );
        self.save(&file)
    }

    /// The value of secret `name` of `plugin`, or `None` if the admin has not set it.
    pub fn get(&self, plugin: &str, name: &str) -> Result<Option<Zeroizing<String>>, VaultError> {
        let file = self.load()?;
        let Some(sealed) = file.secrets.get(plugin).and_then(|s| s.get(name)) else {
            return Ok(None);
        };
        self.unseal(plugin, name, sealed).map(Some)
    }

    /// The values of those of `plugin`'s secrets named in `names` that are set, from one
    /// read of the vault file, each with its name; a value that does not decrypt comes
    /// as its error, so that one damaged value does not hide the others.
    #[allow(clippy::type_complexity)]
    pub fn values(
        &self,
        plugin: &str,
        names: &[String],
    ) -> Result<Vec<(String, Result<Zeroizing<String>, VaultError>)>, VaultError> {
        let file = self.load()?;
        let Some(set) = file.secrets.get(plugin) else {
            return Ok(Vec::new());
        };
        Ok(names
            .iter()
            .filter_map(|name| {
                let sealed = set.get(name)?;
                Some((name.clone(), self.unseal(plugin, name, sealed)))
            })
            .collect())
    }

    /// Decrypt `sealed`, the value of secret `name` of `plugin`.
    fn unseal(
        &self,
        plugin: &str,
        name: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<String>, VaultError> {
        let fail = || VaultError::Decrypt {
            plugin: plugin.to_owned(),
            name: name.to_owned(),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64.decode(&sealed.nonce).map_err(|_| fail())?;
        let ciphertext = b64.decode(&sealed.ciphertext).map_err(|_| fail())?;
        if nonce.len() != 12 {
            return Err(fail());
        }
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: &aad(plugin, name),
                    },
                )
                .map_err(|_| fail())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| fail())?;
        Ok(Zeroizing::new(text.to_owned()))
    }

    /// The names of the secrets set, by plugin; only `plugin`'s if given.
    pub fn names(&self, plugin: Option<&str>) -> Result<BTreeMap<String, Vec<String>>, VaultError> {
        let file = self.load()?;
        Ok(file
            .secrets
            .into_iter()
            .filter(|(p, _)| plugin.is_none_or(|want| want == p))
            .map(|(p, s)| (p, s.into_keys().collect()))
            .collect())
    }

    /// Remove secret `name` of `plugin`; returns whether it was set.
    pub fn remove(&self, plugin: &str, name: &str) -> Result<bool, VaultError> {
        let _lock = self.home.lock(LOCK, true)?;
        let mut file = self.load()?;
        let removed = file
            .secrets
            .get_mut(plugin)
            .is_some_and(|s| s.remove(name).is_some());
        file.secrets.retain(|_, s| !s.is_empty());
        if removed {
            self.save(&file)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> (tempfile::TempDir, Vault) {
        let tmp = tempfile::tempdir().unwrap();
        let v = Vault::open(&Home::open_at(tmp.path()).unwrap()).unwrap();
        (tmp, v)
    }

    const VALUE: &str = "sk-live-0123456789abcdef";

    #[test]
    fn stores_values_encrypted_and_reads_them_back() {
        let (tmp, v) = vault();
        v.set("com.example.a", "token", VALUE.as_bytes()).unwrap();
        assert_eq!(
            v.get("com.example.a", "token")
                .unwrap()
                .as_deref()
                .map(String::as_str),
            Some(VALUE)
        );
        assert!(v.get("com.example.a", "other").unwrap().is_none());
        let on_disk = std::fs::read_to_string(tmp.path().join(FILE)).unwrap();
        assert!(!on_disk.contains(VALUE) && !on_disk.contains("sk-live"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(tmp.path().join(FILE))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn each_value_gets_its_own_nonce() {
        let (_tmp, v) = vault();
        v.set("com.example.a", "one", b"same").unwrap();
        v.set("com.example.a", "two", b"same").unwrap();
        let file = v.load().unwrap();
        let s = &file.secrets["com.example.a"];
        assert_ne!(s["one"].nonce, s["two"].nonce);
        assert_ne!(s["one"].ciphertext, s["two"].ciphertext);
    }

    #[test]
    fn a_value_moved_to_another_name_or_plugin_does_not_decrypt() {
        let (_tmp, v) = vault();
        v.set("com.example.a", "token", VALUE.as_bytes()).unwrap();
        let mut file = v.load().unwrap();
        let sealed = file.secrets["com.example.a"]["token"].clone();
        file.secrets
            .get_mut("com.example.a")
            .unwrap()
            .insert("admin-token".into(), sealed.clone());
        file.secrets
            .entry("com.example.evil".into())
            .or_default()
            .insert("token".into(), sealed);
        v.save(&file).unwrap();
        let e = v.get("com.example.a", "admin-token").unwrap_err();
        assert!(matches!(e, VaultError::Decrypt { .. }));
        assert!(!e.to_string().contains(VALUE));
        assert!(matches!(
            v.get("com.example.evil", "token"),
            Err(VaultError::Decrypt { .. })
        ));
    }

    #[test]
    fn tampered_ciphertext_does_not_decrypt() {
        let (_tmp, v) = vault();
        v.set("com.example.a", "token", VALUE.as_bytes()).unwrap();
        let mut file = v.load().unwrap();
        let sealed = file
            .secrets
            .get_mut("com.example.a")
            .unwrap()
            .get_mut("token")
            .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut ct = b64.decode(&sealed.ciphertext).unwrap();
        ct[0] ^= 1;
        sealed.ciphertext = b64.encode(ct);
        v.save(&file).unwrap();
        assert!(matches!(
            v.get("com.example.a", "token"),
            Err(VaultError::Decrypt { .. })
        ));
    }

    #[test]
    fn reads_the_values_of_several_names_at_once_and_reports_a_damaged_one_alone() {
        let (_tmp, v) = vault();
        v.set("com.example.a", "one", b"first").unwrap();
        v.set("com.example.a", "two", b"second").unwrap();
        v.set("com.example.b", "one", b"other plugin").unwrap();
        let mut file = v.load().unwrap();
        let sealed = file.secrets["com.example.a"]["one"].clone();
        file.secrets
            .get_mut("com.example.a")
            .unwrap()
            .insert("moved".into(), sealed);
        v.save(&file).unwrap();
        let names: Vec<String> = ["one", "two", "moved", "unset"].map(String::from).into();
        let values = v.values("com.example.a", &names).unwrap();
        let shown: Vec<(&str, Option<&str>)> = values
            .iter()
            .map(|(n, r)| (n.as_str(), r.as_ref().ok().map(|z| z.as_str())))
            .collect();
        assert_eq!(
            shown,
            [
                ("one", Some("first")),
                ("two", Some("second")),
                ("moved", None)
            ]
        );
        assert!(v.values("com.example.none", &names).unwrap().is_empty());
    }

    #[test]
    fn lists_names_and_removes() {
        let (_tmp, v) = vault();
        v.set("com.example.a", "b", b"1").unwrap();
        v.set("com.example.a", "a", b"2").unwrap();
        v.set("com.example.z", "c", b"3").unwrap();
        let names = v.names(Some("com.example.a")).unwrap();
        assert_eq!(names["com.example.a"], ["a", "b"]);
        assert_eq!(names.len(), 1);
        assert!(v.remove("com.example.a", "a").unwrap());
        assert!(!v.remove("com.example.a", "a").unwrap());
        assert!(v.get("com.example.a", "a").unwrap().is_none());
    }
}
