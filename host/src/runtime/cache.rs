//! The compile cache: compiled components kept under `$PINCER_HOME/cache`, so a plugin
//! is compiled once and loaded in well under a millisecond after that.
//!
//! Loading compiled code runs it natively, without the checks that compiling does, so
//! a cache file is trusted only if it carries a valid HMAC-SHA256 tag made with the
//! host's own key (`keys/cache.key`, mode 0600). A file that fails the check, or that
//! wasmtime refuses, is logged, deleted and compiled again; it is never loaded.
//!
//! A file is named by the component's SHA-256 and the engine's compatibility hash, so a
//! different wasmtime version or configuration never picks up another's code.
//!
//! Format: `PINCERC1` (8 bytes) | HMAC tag (32 bytes) | wasmtime's serialized
//! component. The tag covers the magic, the file's name and the payload.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::store::{Home, HomeError};

type HmacSha256 = Hmac<Sha256>;

const MAGIC: &[u8; 8] = b"PINCERC1";
const TAG_LEN: usize = 32;

/// Where the key that authenticates cache files lives, inside the home directory.
pub const CACHE_KEY: &str = "keys/cache.key";
/// The cache directory, inside the home directory.
pub const CACHE_DIR: &str = "cache";

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Loaded from an authenticated cache file.
    Hit,
    /// Not cached yet: compiled and stored.
    Compiled,
    /// A cache file failed authentication or loading: discarded, compiled, stored.
    Rejected,
}

/// The compile cache of one home directory.
pub struct CompileCache {
    key: [u8; 32],
    engine_hash: String,
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileCache")
            .field("engine_hash", &self.engine_hash)
            .finish_non_exhaustive()
    }
}

/// Feeds `Hash` output into SHA-256, for a hash that is stable across runs.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("only finalised through the digest")
    }
}

impl CompileCache {
    /// Open the cache in `home`, creating its key on first use.
    pub fn open(home: &Home, engine: &Engine) -> Result<Self, HomeError> {
        home.create_dir_all(CACHE_DIR)?;
        let key = home.secret_key::<32>(CACHE_KEY)?;
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hex::encode(&hasher.0.finalize()[..8]);
        Ok(CompileCache { key, engine_hash })
    }

    /// The cache file for the component with digest `sha256`, relative to the home.
    pub fn file_for(&self, sha256: &str) -> PathBuf {
        PathBuf::from(CACHE_DIR).join(format!("{sha256}-{}.cwasm", self.engine_hash))
    }

    fn tag(&self, name: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(MAGIC);
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name.as_bytes());
        mac.update(payload);
        mac
    }

    /// The compiled component for `wasm` (whose SHA-256 is `sha256`): from the cache if
    /// an authenticated copy is there, else compiled and stored.
    pub fn load_or_compile(
        &self,
        home: &Home,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let rel = self.file_for(sha256);
        let name = rel.to_string_lossy().into_owned();
        let mut outcome = CacheOutcome::Compiled;
        if let Some(file) = home.read_optional(&rel)? {
            match self.authenticate(&name, &file) {
                Ok(payload) => {
                    // SAFETY: the payload carries a valid tag made with this host's
                    // private key, so this host serialized it with this engine
                    // configuration (the file name binds the compatibility hash).
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(component) => return Ok((component, CacheOutcome::Hit)),
                        Err(e) => tracing::warn!(
                            file = %home.join(&rel).display(),
                            "discarding a cache file that wasmtime refused: {e:#}"
                        ),
                    }
                }
                Err(why) => tracing::warn!(
                    file = %home.join(&rel).display(),
                    "discarding a cache file that failed authentication ({why}); it was not loaded"
                ),
            }
            home.remove_file(&rel)?;
            outcome = CacheOutcome::Rejected;
        }
        let component = Component::new(engine, wasm)?;
        let payload = component.serialize()?;
        let tag = self.tag(&name, &payload).finalize().into_bytes();
        let mut file = Vec::with_capacity(MAGIC.len() + TAG_LEN + payload.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&tag);
        file.extend_from_slice(&payload);
        home.write_atomic(&rel, &file, 0o600)?;
        Ok((component, outcome))
    }

    /// Check a cache file's magic and tag; return its payload.
    fn authenticate<'a>(&self, name: &str, file: &'a [u8]) -> Result<&'a [u8], &'static str> {
        if file.len() < MAGIC.len() + TAG_LEN || &file[..MAGIC.len()] != MAGIC {
            return Err("not a Pincer cache file");
        }
        let (tag, payload) = file[MAGIC.len()..].split_at(TAG_LEN);
        self.tag(name, payload)
            .verify_slice(tag)
            .map_err(|_| "bad HMAC tag")?;
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticates_only_untouched_files() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let engine = Engine::default();
        let cache = CompileCache::open(&home, &engine).unwrap();
        let payload = b"compiled code".to_vec();
        let tag = cache.tag("n", &payload).finalize().into_bytes();
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&tag);
        file.extend_from_slice(&payload);
        assert_eq!(cache.authenticate("n", &file).unwrap(), payload.as_slice());
        assert!(cache.authenticate("other-name", &file).is_err());
        let last = file.len() - 1;
        file[last] ^= 1;
        assert!(cache.authenticate("n", &file).is_err());
        assert!(cache.authenticate("n", b"PINCERC1").is_err());
    }
}
