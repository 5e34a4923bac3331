//! Publisher keys, manifest signatures and the trust store.
//!
//! A plugin is *signed* when its bundle holds `manifest.toml.minisig`, a minisign
//! signature (Ed25519 over the BLAKE2b-512 hash of the manifest's exact bytes) whose
//! trusted comment names the plugin's id and version. The manifest carries the
//! component's SHA-256, so one signature covers manifest and component. The format is
//! minisign's own, so authors may sign with the `minisign` tool and admins may check a
//! bundle with it. Pincer signs with the `minisign` crate and verifies with
//! `minisign-verify`, the small verification-only crate by the same author.
//!
//! This module owns key files, signing, bundle verification and the trust store. It
//! never decides what a plugin may do: a verified bundle still needs an admin's
//! approval (`store::plugins`).

mod bundle;
mod keys;
pub mod store;

pub use bundle::{
    Bundle, MANIFEST_FILE, PackReport, SIGNATURE_FILE, Verified, pack, sign_manifest_file,
};
pub use keys::{KeyId, PublisherKey, SigningKey, TrustedComment, keygen};
pub use store::{KeyStatus, TrustStore, TrustedKey};

use std::path::PathBuf;

/// Why a key, a signature or a bundle was refused. Every message says which check
/// failed and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A public key is not in minisign's format.
    #[error(
        "{what} is not a minisign public key: {why} (expected a `.pub` file or the base64 line from one, such as RWQ...)"
    )]
    BadPublicKey {
        /// What was given.
        what: String,
        /// Why it does not parse.
        why: String,
    },
    /// A secret key file is not in minisign's format, or the password is wrong.
    #[error("cannot use the secret key {}: {why}", path.display())]
    BadSecretKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A file that would be overwritten already exists.
    #[error("{} already exists; choose another --out or move it away first", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The bundle has no signature file.
    #[error(
        "{} has no signature ({SIGNATURE_FILE}): sign it with `pincer pack` or `pincer sign`, or load it unsigned with --dev",
        dir.display()
    )]
    Unsigned {
        /// The bundle.
        dir: PathBuf,
    },
    /// The signature file is not a minisign signature.
    #[error("{} is not a minisign signature: {why}", path.display())]
    BadSignatureFile {
        /// The signature file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The signing key is not in the trust store.
    #[error(
        "signature check failed: the bundle is signed by key {key_id}, which is not trusted; expected one of the trusted keys ({trusted}). If you trust this publisher: `pincer trust add PUBKEY --name NAME`"
    )]
    UnknownKey {
        /// The signer's key id.
        key_id: KeyId,
        /// The trusted key ids, or "none".
        trusted: String,
    },
    /// The signing key was revoked.
    #[error(
        "signature check failed: the bundle is signed by key {key_id} ({name}), which was revoked on {revoked_at}; ask the publisher for a bundle signed with a key you trust"
    )]
    RevokedKey {
        /// The signer's key id.
        key_id: KeyId,
        /// The name the admin gave it.
        name: String,
        /// When it was revoked.
        revoked_at: String,
    },
    /// The signature does not match the manifest's bytes.
    #[error(
        "signature check failed: {} was not signed by key {key_id} ({name}) in this form; it was changed after signing, or the signature belongs to another file",
        path.display()
    )]
    BadSignature {
        /// The manifest.
        path: PathBuf,
        /// The key that was expected to have signed it.
        key_id: KeyId,
        /// Its name.
        name: String,
    },
    /// The trusted comment does not bind this plugin and version.
    #[error(
        "signature check failed: the signature's trusted comment names {found}, but the manifest is {expected}; a signature cannot be moved to another plugin or version (re-sign with `pincer sign`)"
    )]
    WrongPlugin {
        /// `id@version` from the manifest.
        expected: String,
        /// What the trusted comment says.
        found: String,
    },
    /// The manifest does not carry the component's digest.
    #[error(
        "{}: [component] has no sha256; a signed manifest must pin its component (`pincer pack` writes it)",
        path.display()
    )]
    NoDigest {
        /// The manifest.
        path: PathBuf,
    },
    /// The component differs from the one the manifest pins.
    #[error(
        "digest check failed: component {} has SHA-256 {found}, but the signed manifest expects {expected}; the component was changed or replaced after signing",
        path.display()
    )]
    DigestMismatch {
        /// The component.
        path: PathBuf,
        /// The manifest's digest.
        expected: String,
        /// The file's digest.
        found: String,
    },
    /// The manifest is malformed.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    /// The trust store is malformed.
    #[error("the trust store {} is damaged: {why}; restore it from a backup", path.display())]
    Store {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A trust store change that does not apply.
    #[error("{0}")]
    Refused(String),
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] crate::store::HomeError),
}

impl TrustError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrustError {
        let path = path.into();
        move |source| TrustError::Io { path, source }
    }

    /// A short name of the check that failed, for audit records and `--json`.
    pub fn check(&self) -> &'static str {
        match self {
            TrustError::Unsigned { .. } | TrustError::BadSignatureFile { .. } => "signature",
            TrustError::UnknownKey { .. } => "unknown-key",
            TrustError::RevokedKey { .. } => "revoked-key",
            TrustError::BadSignature { .. } => "signature",
            TrustError::WrongPlugin { .. } => "trusted-comment",
            TrustError::NoDigest { .. } | TrustError::DigestMismatch { .. } => "digest",
            TrustError::Manifest(_) => "manifest",
            _ => "other",
        }
    }
}

#[cfg(test)]
mod tests;
