//! Key files in minisign's formats, key ids, signing, and the trusted comment.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;

use super::TrustError;

/// A minisign key id: 8 random bytes chosen at key generation, shown as 16 upper-case
/// hex digits exactly as `minisign` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id from its 8 bytes, as they appear in keys and signatures.
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        KeyId(bytes)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

impl FromStr for KeyId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() != 16 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "`{s}` is not a key id: expected 16 hex digits, as `pincer trust list` shows"
            ));
        }
        let n = u64::from_str_radix(s, 16).map_err(|e| e.to_string())?;
        Ok(KeyId(n.to_le_bytes()))
    }
}

impl serde::Serialize for KeyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A publisher's public key.
#[derive(Debug, Clone)]
pub struct PublisherKey {
    /// Its id.
    pub id: KeyId,
    /// The base64 line of its `.pub` file.
    pub base64: String,
    verifier: minisign_verify::PublicKey,
}

impl PublisherKey {
    /// Parse a public key: the contents of a minisign `.pub` file, or its base64 line.
    /// `what` names the input in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, TrustError> {
        let bad = |why: &str| TrustError::BadPublicKey {
            what: what.to_owned(),
            why: why.to_owned(),
        };
        let line = text
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .ok_or_else(|| bad("it is empty"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line)
            .map_err(|_| bad("its key line is not base64"))?;
        if bytes.len() != 42 || &bytes[..2] != b"Ed" {
            return Err(bad("its key line does not hold an Ed25519 minisign key"));
        }
        let verifier =
            minisign_verify::PublicKey::from_base64(line).map_err(|e| bad(&e.to_string()))?;
        let id = KeyId(bytes[2..10].try_into().expect("8 bytes"));
        Ok(PublisherKey {
            id,
            base64: line.to_owned(),
            verifier,
        })
    }

    /// A key given on the command line: the path of a `.pub` file, or else the base64
    /// key itself. A file that exists but cannot be read is an error, not a key.
    pub fn from_arg(arg: &str) -> Result<Self, TrustError> {
        match std::fs::read_to_string(arg) {
            Ok(text) => Self::parse(&text, arg),
            Err(_) if !Path::new(arg).exists() => Self::parse(arg, "the key given"),
            Err(e) => Err(TrustError::io(arg)(e)),
        }
    }

    /// The key in a `.pub` file's format.
    pub fn to_pub_file(&self) -> String {
        format!(
            "untrusted comment: minisign public key {}\n{}\n",
            self.id, self.base64
        )
    }

    /// Check a minisign `signature` over `data` (prehashed signatures only: the
    /// legacy format signs the raw bytes and is refused).
    pub(crate) fn verify(
        &self,
        data: &[u8],
        signature: &minisign_verify::Signature,
    ) -> Result<(), minisign_verify::Error> {
        self.verifier.verify(data, signature, false)
    }
}

/// What the signature's trusted comment binds: the plugin's id and version, so a
/// signature cannot be replayed onto another plugin or an older version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedComment {
    /// The plugin id.
    pub plugin: String,
    /// Its version.
    pub version: String,
}

impl TrustedComment {
    /// The comment Pincer writes: minisign's `timestamp:` field, then the binding.
    pub fn render(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        format!(
            "timestamp:{now}\tfile:manifest.toml\tplugin:{}\tversion:{}",
            self.plugin, self.version
        )
    }

    /// Read the binding back from a trusted comment; `None` if it has none.
    pub fn parse(comment: &str) -> Option<Self> {
        let field = |name: &str| {
            comment
                .split('\t')
                .find_map(|f| f.strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_owned)
        };
        Some(TrustedComment {
            plugin: field("plugin")?,
            version: field("version")?,
        })
    }
}

impl fmt::Display for TrustedComment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.plugin, self.version)
    }
}

/// A decrypted secret key, ready to sign.
pub struct SigningKey {
    sk: minisign::SecretKey,
    /// Its id.
    pub id: KeyId,
}

impl SigningKey {
    /// Load a minisign secret key file. An encrypted key asks `password` for its
    /// password; an unencrypted one (`pincer keygen --unencrypted`, `minisign -G -W`)
    /// does not.
    pub fn load(
        path: &Path,
        password: impl FnOnce() -> Result<String, TrustError>,
    ) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path).map_err(TrustError::io(path))?;
        let bad = |why: String| TrustError::BadSecretKey {
            path: path.to_path_buf(),
            why,
        };
        let encoded = text
            .lines()
            .nth(1)
            .ok_or_else(|| bad("it is not a minisign secret key file".into()))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad("it is not a minisign secret key file".into()))?;
        if raw.len() < 6 || &raw[..2] != b"Ed" {
            return Err(bad("it is not an Ed25519 minisign secret key".into()));
        }
        let encrypted = raw[2..4] != [0, 0];
        let boxed = minisign::SecretKeyBox::from_string(&text).map_err(|e| bad(e.to_string()))?;
        let sk = if encrypted {
            minisign::SecretKey::from_box(boxed, Some(password()?))
                .map_err(|e| bad(e.to_string()))?
        } else {
            match minisign::SecretKey::from_unencrypted_box(boxed) {
                Ok(sk) => sk,
                // minisign 0.11 (`minisign -G -W`) leaves the checksum of an
                // unencrypted key all zeros; minisign itself accepts such keys.
                Err(_) if raw.len() == 158 && raw[126..].iter().all(|&b| b == 0) => {
                    minisign::SecretKey::from_bytes(&raw).map_err(|e| bad(e.to_string()))?
                }
                Err(e) => return Err(bad(e.to_string())),
            }
        };
        let id = KeyId(
            sk.keynum()
                .try_into()
                .map_err(|_| bad("bad key id".into()))?,
        );
        Ok(SigningKey { sk, id })
    }

    /// Sign `data` with a prehashed minisign signature carrying `comment`; returns the
    /// `.minisig` file's text.
    pub fn sign(&self, data: &[u8], comment: &TrustedComment) -> Result<String, TrustError> {
        let signature = minisign::sign(
            None,
            &self.sk,
            std::io::Cursor::new(data),
            Some(&comment.render()),
            Some(&format!("signature from pincer key {}", self.id)),
        )
        .map_err(|e| TrustError::Refused(format!("signing failed: {e}")))?;
        Ok(signature.into_string())
    }
}

/// Make a key pair: `PREFIX.key` (mode 0600, encrypted with `password` unless it is
/// `None`) and `PREFIX.pub`, in minisign's formats. Refuses to overwrite either file.
pub fn keygen(
    prefix: &Path,
    password: Option<String>,
) -> Result<(KeyId, PathBuf, PathBuf), TrustError> {
    let with_ext = |ext: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (sk_path, pk_path) = (with_ext(".key"), with_ext(".pub"));
    for path in [&sk_path, &pk_path] {
        if path.exists() {
            return Err(TrustError::Exists { path: path.clone() });
        }
    }
    let failed = |e: minisign::PError| TrustError::Refused(format!("key generation failed: {e}"));
    let (pair, comment) = match password {
        Some(p) => (
            minisign::KeyPair::generate_encrypted_keypair(Some(p)).map_err(failed)?,
            "pincer encrypted secret key",
        ),
        None => (
            minisign::KeyPair::generate_unencrypted_keypair().map_err(failed)?,
            "pincer unencrypted secret key",
        ),
    };
    let sk_text = pair.sk.to_box(Some(comment)).map_err(failed)?.to_string();
    let pk_text = pair.pk.to_box().map_err(failed)?.to_string();
    let id = KeyId(pair.pk.keynum().try_into().expect("8-byte key id"));
    write_new(&sk_path, sk_text.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pk_path, pk_text.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&sk_path);
        return Err(e);
    }
    Ok((id, sk_path, pk_path))
}

/// Write a new file with `mode`, refusing to replace an existing one.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TrustError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => TrustError::Exists {
                path: path.to_path_buf(),
            },
            _ => TrustError::io(path)(e),
        })?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(TrustError::io(path))
}
