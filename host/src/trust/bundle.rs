//! Bundles: a directory with `manifest.toml`, `manifest.toml.minisig` and the
//! component. Packing writes one; verifying checks one, in memory.

use std::path::{Path, PathBuf};

use super::{KeyId, PublisherKey, SigningKey, TrustError, TrustStore, TrustedComment};
use crate::digest::sha256_hex;
use crate::manifest::Manifest;

/// The manifest's file name in a bundle.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// The signature's file name in a bundle.
pub const SIGNATURE_FILE: &str = "manifest.toml.minisig";

/// A bundle read into memory. Every check runs on these bytes, and an install copies
/// these same bytes, so a file swapped on disk after the check changes nothing.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Where it was read from.
    pub dir: PathBuf,
    /// The manifest's exact bytes (what the signature covers).
    pub manifest_bytes: Vec<u8>,
    /// The checked manifest.
    pub manifest: Manifest,
    /// The signature file's text, if there is one.
    pub signature: Option<String>,
    /// The component's bytes.
    pub component: Vec<u8>,
}

/// What a successful verification established.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// The key that signed the manifest.
    pub key_id: KeyId,
    /// The name the admin gave that key (or "given with --pubkey").
    pub signer: String,
    /// The component's SHA-256, equal to the manifest's.
    pub sha256: String,
    /// The signature's trusted comment, whole.
    pub trusted_comment: String,
}

impl Bundle {
    /// Read the bundle in `dir`. The manifest must be well-formed; the signature may be
    /// missing (only `--dev` accepts that).
    pub fn read(dir: &Path) -> Result<Self, TrustError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest_bytes = std::fs::read(&manifest_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
                TrustError::Refused(format!(
                    "{} is not a bundle directory (expected {MANIFEST_FILE}, {SIGNATURE_FILE} and the component; `pincer pack` makes one)",
                    dir.display()
                ))
            } else {
                TrustError::io(&manifest_path)(e)
            }
        })?;
        let text = std::str::from_utf8(&manifest_bytes).map_err(|_| {
            TrustError::Refused(format!("{} is not UTF-8 text", manifest_path.display()))
        })?;
        let manifest = Manifest::parse(text, &manifest_path)?;
        let sig_path = dir.join(SIGNATURE_FILE);
        let signature = match std::fs::read_to_string(&sig_path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(TrustError::io(&sig_path)(e)),
        };
        let component_path = dir.join(&manifest.component.file);
        let component = std::fs::read(&component_path).map_err(TrustError::io(&component_path))?;
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest_bytes,
            manifest,
            signature,
            component,
        })
    }

    /// The component's path in the bundle, for messages.
    pub fn component_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.component.file)
    }

    fn parsed_signature(&self) -> Result<(minisign_verify::Signature, KeyId), TrustError> {
        let text = self
            .signature
            .as_deref()
            .ok_or_else(|| TrustError::Unsigned {
                dir: self.dir.clone(),
            })?;
        let bad = |why: String| TrustError::BadSignatureFile {
            path: self.dir.join(SIGNATURE_FILE),
            why,
        };
        let signature = minisign_verify::Signature::decode(text).map_err(|e| bad(e.to_string()))?;
        let boxed = minisign::SignatureBox::from_string(text).map_err(|e| bad(e.to_string()))?;
        let id = KeyId::from_bytes(
            boxed
                .keynum()
                .try_into()
                .map_err(|_| bad("its key id is not 8 bytes".into()))?,
        );
        Ok((signature, id))
    }

    /// The id of the key that signed the manifest, without checking the signature.
    pub fn signer(&self) -> Result<KeyId, TrustError> {
        Ok(self.parsed_signature()?.1)
    }

    /// Verify the bundle against the trust store: signed by a trusted, unrevoked key;
    /// the signature covers these manifest bytes; its trusted comment names this
    /// plugin and version; the component has the manifest's digest.
    pub fn verify(&self, trust: &TrustStore) -> Result<Verified, TrustError> {
        let (_, id) = self.parsed_signature()?;
        let (key, entry) = trust.trusted(id)?;
        self.verify_with(&key, &entry.name)
    }

    /// Verify the bundle against one given key (`pincer verify --pubkey`).
    pub fn verify_with(&self, key: &PublisherKey, name: &str) -> Result<Verified, TrustError> {
        let (signature, id) = self.parsed_signature()?;
        if id != key.id {
            return Err(TrustError::UnknownKey {
                key_id: id,
                trusted: format!("{} {name}", key.id),
            });
        }
        key.verify(&self.manifest_bytes, &signature)
            .map_err(|_| TrustError::BadSignature {
                path: self.dir.join(MANIFEST_FILE),
                key_id: key.id,
                name: name.to_owned(),
            })?;
        let expected = TrustedComment {
            plugin: self.manifest.plugin.id.to_string(),
            version: self.manifest.plugin.version.to_string(),
        };
        let comment = signature.trusted_comment();
        match TrustedComment::parse(comment) {
            Some(found) if found == expected => {}
            found => {
                return Err(TrustError::WrongPlugin {
                    expected: expected.to_string(),
                    found: found
                        .map(|f| f.to_string())
                        .unwrap_or_else(|| format!("no plugin (`{comment}`)")),
                });
            }
        }
        let sha256 = self.check_digest()?;
        Ok(Verified {
            key_id: key.id,
            signer: name.to_owned(),
            sha256,
            trusted_comment: comment.to_owned(),
        })
    }

    /// Check the component against the manifest's digest; returns the digest.
    pub fn check_digest(&self) -> Result<String, TrustError> {
        let expected =
            self.manifest
                .component
                .sha256
                .as_ref()
                .ok_or_else(|| TrustError::NoDigest {
                    path: self.dir.join(MANIFEST_FILE),
                })?;
        let found = sha256_hex(&self.component);
        if *expected != found {
            return Err(TrustError::DigestMismatch {
                path: self.component_path(),
                expected: expected.clone(),
                found,
            });
        }
        Ok(found)
    }
}

/// What `pack` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackReport {
    /// The bundle directory.
    pub dir: PathBuf,
    /// The plugin id.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The component's SHA-256, now in the manifest.
    pub sha256: String,
    /// The component's size in bytes.
    pub size: usize,
    /// The signing key.
    pub key_id: KeyId,
}

/// Pack the plugin described by `manifest_path` into the bundle directory `out`:
/// write the component's SHA-256 (and its bundle file name) into the manifest, keep
/// everything else of the manifest byte for byte, and sign it.
pub fn pack(
    manifest_path: &Path,
    component: Option<&Path>,
    key: &SigningKey,
    out: &Path,
) -> Result<PackReport, TrustError> {
    let text = std::fs::read_to_string(manifest_path).map_err(TrustError::io(manifest_path))?;
    let manifest = Manifest::parse(&text, manifest_path)?;
    let component_path = match component {
        Some(p) => p.to_path_buf(),
        None => manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .join(&manifest.component.file),
    };
    let wasm = std::fs::read(&component_path).map_err(TrustError::io(&component_path))?;
    let sha256 = sha256_hex(&wasm);
    let file_name = component_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != MANIFEST_FILE && n != SIGNATURE_FILE)
        .unwrap_or_else(|| "component.wasm".into());

    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        TrustError::Refused(format!("{}: {e}", manifest_path.display()))
    })?;
    doc["component"]["file"] = toml_edit::value(file_name.as_str());
    doc["component"]["sha256"] = toml_edit::value(sha256.as_str());
    let packed = doc.to_string();
    let packed_manifest = Manifest::parse(&packed, manifest_path)?;

    std::fs::create_dir_all(out).map_err(TrustError::io(out))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(TrustError::io(&path))
    };
    // Remove an old signature first: a bundle is never left with a stale one.
    let _ = std::fs::remove_file(out.join(SIGNATURE_FILE));
    write(&file_name, &wasm)?;
    write(MANIFEST_FILE, packed.as_bytes())?;
    let signature = key.sign(
        packed.as_bytes(),
        &TrustedComment {
            plugin: packed_manifest.plugin.id.to_string(),
            version: packed_manifest.plugin.version.to_string(),
        },
    )?;
    write(SIGNATURE_FILE, signature.as_bytes())?;
    Ok(PackReport {
        dir: out.to_path_buf(),
        plugin: packed_manifest.plugin.id.to_string(),
        version: packed_manifest.plugin.version.to_string(),
        sha256,
        size: wasm.len(),
        key_id: key.id,
    })
}

/// Sign an existing manifest in place, writing `MANIFEST.minisig` beside it. The
/// manifest must already pin its component's digest, and the component, if present
/// beside it, must match.
pub fn sign_manifest_file(manifest_path: &Path, key: &SigningKey) -> Result<PathBuf, TrustError> {
    let bytes = std::fs::read(manifest_path).map_err(TrustError::io(manifest_path))?;
    let text = String::from_utf8_lossy(&bytes);
    let manifest = Manifest::parse(&text, manifest_path)?;
    let expected = manifest
        .component
        .sha256
        .as_ref()
        .ok_or_else(|| TrustError::NoDigest {
            path: manifest_path.to_path_buf(),
        })?;
    let component_path = manifest_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&manifest.component.file);
    if let Ok(wasm) = std::fs::read(&component_path) {
        let found = sha256_hex(&wasm);
        if found != *expected {
            return Err(TrustError::DigestMismatch {
                path: component_path,
                expected: expected.clone(),
                found,
            });
        }
    }
    let signature = key.sign(
        &bytes,
        &TrustedComment {
            plugin: manifest.plugin.id.to_string(),
            version: manifest.plugin.version.to_string(),
        },
    )?;
    let mut sig_path = manifest_path.as_os_str().to_owned();
    sig_path.push(".minisig");
    let sig_path = PathBuf::from(sig_path);
    std::fs::write(&sig_path, signature).map_err(TrustError::io(&sig_path))?;
    Ok(sig_path)
}
