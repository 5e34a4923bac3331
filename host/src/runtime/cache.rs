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
//!
//! Compiled code is mapped, not copied into the heap. A cache file is read once, in
//! chunks, and each chunk goes both into the tag check and into an unnamed file in the
//! cache directory (`O_TMPFILE|O_EXCL`, mode 0600, never linked: only this process,
//! and those allowed to trace it, can open it, and the cache file may change
//! afterwards without effect); once the tag verifies, the code is mapped from that
//! copy, so only the pages a plugin runs are resident, as file pages. Where the copy
//! cannot be made, written or mapped (no `O_TMPFILE` or `/proc/self/fd`, a full disk,
//! a `noexec` mount), the file is read and checked again into memory and loaded from
//! there, as before.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::store::{Home, HomeError, Missing};

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

    /// The MAC of a cache file named `name`, fed with everything but the payload.
    fn mac(&self, name: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(MAGIC);
        mac.update(&(name.len() as u64).to_le_bytes());
        mac.update(name.as_bytes());
        mac
    }

    fn tag(&self, name: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac(name);
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
        match self.load_cached(home, engine, &rel, &name)? {
            Cached::Loaded(component) => return Ok((component, CacheOutcome::Hit)),
            Cached::Missing => {}
            Cached::Refused(why) => {
                tracing::warn!(
                    file = %home.join(&rel).display(),
                    "discarding a cache file that {why}; it was not loaded"
                );
                home.remove_file(&rel)?;
                outcome = CacheOutcome::Rejected;
            }
        }
        let compiled = Component::new(engine, wasm)?;
        let payload = compiled.serialize()?;
        let tag = self.tag(&name, &payload).finalize().into_bytes();
        let mut file = Vec::with_capacity(MAGIC.len() + TAG_LEN + payload.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&tag);
        file.extend_from_slice(&payload);
        home.write_atomic(&rel, &file, 0o600)?;
        // Served from a mapped copy too, so that a server's first start after an
        // install holds no more memory than its later ones; if the copy cannot be
        // written or mapped (a full disk, a home on a `noexec` mount), from memory.
        let mapped = CodeCopy::new(home).map(|mut copy| {
            copy.write_all(&payload)?;
            copy.load(engine)
        });
        let component = match mapped {
            Some(Ok(component)) => component,
            Some(Err(e)) => {
                tracing::debug!("serving compiled code from memory: its copy failed ({e:#})");
                compiled
            }
            None => compiled,
        };
        Ok((component, outcome))
    }

    /// The cache file `rel`, authenticated and loaded: mapped from an unnamed copy
    /// where one can be made and mapped, else from memory.
    fn load_cached(
        &self,
        home: &Home,
        engine: &Engine,
        rel: &Path,
        name: &str,
    ) -> wasmtime::Result<Cached> {
        self.load_cached_via(home, engine, rel, name, CodeCopy::new(home))
    }

    /// [`CompileCache::load_cached`], first through `copy` if given. A copy that
    /// cannot be written or mapped is a fault of the system, not of the cache file:
    /// the file is then read and checked again into memory, and refused only if that
    /// load fails too.
    fn load_cached_via(
        &self,
        home: &Home,
        engine: &Engine,
        rel: &Path,
        name: &str,
        copy: Option<CodeCopy>,
    ) -> wasmtime::Result<Cached> {
        if let Some(copy) = copy {
            match self.read_verified(home, rel, name, copy)? {
                Verified::Copy(copy) => match copy.load(engine) {
                    Ok(component) => return Ok(Cached::Loaded(component)),
                    Err(e) => tracing::debug!(
                        "loading compiled code from memory: mapping its copy failed ({e:#})"
                    ),
                },
                Verified::CopyFailed(e) => tracing::debug!(
                    "loading compiled code from memory: writing its copy failed ({e})"
                ),
                Verified::Missing => return Ok(Cached::Missing),
                Verified::Refused(why) => return Ok(Cached::Refused(why)),
            }
        }
        match self.read_verified(home, rel, name, CodeCopy::default())? {
            Verified::Copy(copy) => match copy.load(engine) {
                Ok(component) => Ok(Cached::Loaded(component)),
                Err(e) => Ok(Cached::Refused(format!("wasmtime refused ({e:#})"))),
            },
            Verified::CopyFailed(e) => Err(e.into()),
            Verified::Missing => Ok(Cached::Missing),
            Verified::Refused(why) => Ok(Cached::Refused(why)),
        }
    }

    /// Read the cache file `rel` once into `copy`, checking its magic and its tag over
    /// exactly the bytes copied, so that a change to the file while it is read cannot
    /// slip past the check.
    fn read_verified(
        &self,
        home: &Home,
        rel: &Path,
        name: &str,
        mut copy: CodeCopy,
    ) -> Result<Verified, HomeError> {
        let Some(mut file) = home.open_optional(rel)? else {
            return Ok(Verified::Missing);
        };
        let io = |source| HomeError::Io {
            path: home.join(rel),
            source,
        };
        let mut header = [0u8; MAGIC.len() + TAG_LEN];
        if read_full(&mut file, &mut header).map_err(io)? < header.len()
            || &header[..MAGIC.len()] != MAGIC
        {
            return Ok(Verified::Refused("is not a Pincer cache file".into()));
        }
        let mut mac = self.mac(name);
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let n = read_full(&mut file, &mut chunk).map_err(io)?;
            mac.update(&chunk[..n]);
            if let Err(e) = copy.write_all(&chunk[..n]) {
                return Ok(Verified::CopyFailed(e));
            }
            if n < chunk.len() {
                break;
            }
        }
        if mac.verify_slice(&header[MAGIC.len()..]).is_err() {
            return Ok(Verified::Refused(
                "failed authentication (bad HMAC tag)".into(),
            ));
        }
        Ok(Verified::Copy(copy))
    }

    /// Check a cache file's magic and tag; return its payload.
    #[cfg(test)]
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

/// What the cache held for a component.
enum Cached {
    Missing,
    Loaded(Component),
    /// A file that must not be loaded, and why (completing "discarding a cache file
    /// that ...").
    Refused(String),
}

/// A cache file read into a copy.
enum Verified {
    Missing,
    /// Its tag verified: the copy holds exactly its checked payload.
    Copy(CodeCopy),
    /// Writing the copy failed; nothing is known of the file yet.
    CopyFailed(io::Error),
    /// The file must not be loaded, and why.
    Refused(String),
}

/// A private copy of authenticated compiled code, for wasmtime to load.
enum CodeCopy {
    /// An unnamed file in the cache directory, to be mapped.
    File(File),
    /// Memory, where no such file can be made.
    Memory(Vec<u8>),
}

impl Default for CodeCopy {
    fn default() -> Self {
        CodeCopy::Memory(Vec::new())
    }
}

impl CodeCopy {
    /// An unnamed file in `home`'s cache directory, if the system can make one that
    /// wasmtime can then map (`O_TMPFILE` and `/proc/self/fd`).
    fn new(home: &Home) -> Option<Self> {
        use rustix::fs::{Mode, OFlags};
        if !Path::new("/proc/self/fd").is_dir() {
            return None;
        }
        let dir = home.open_dir(CACHE_DIR, Missing::Fail).ok()?;
        // O_EXCL: the file can never be linked into the tree, by anyone.
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::EXCL | OFlags::CLOEXEC;
        match rustix::fs::openat(&dir, ".", flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => Some(CodeCopy::File(File::from(fd))),
            Err(e) => {
                tracing::debug!("no unnamed file for compiled code ({e}); loading it from memory");
                None
            }
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            CodeCopy::File(file) => file.write_all(bytes),
            CodeCopy::Memory(buf) => {
                buf.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Load the copy. The caller has authenticated every byte of it.
    fn load(self, engine: &Engine) -> wasmtime::Result<Component> {
        match self {
            // SAFETY (both arms): the bytes carry a valid tag made with this host's
            // private key, or were serialized by this engine just now, so this host
            // serialized them with this engine configuration (the file name binds the
            // compatibility hash). The file has no name and was opened by this
            // process only, so nothing else can change it while it is mapped.
            CodeCopy::File(file) => unsafe {
                Component::deserialize_file(engine, format!("/proc/self/fd/{}", file.as_raw_fd()))
            },
            CodeCopy::Memory(bytes) => unsafe { Component::deserialize(engine, bytes) },
        }
    }
}

/// Read into `buf` until it is full or the file ends; how many bytes were read.
fn read_full(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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

    /// A cache holding an empty component's authenticated code, its file and name.
    fn cached_empty_component() -> (tempfile::TempDir, Home, Engine, CompileCache, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let engine = Engine::default();
        let cache = CompileCache::open(&home, &engine).unwrap();
        let empty_component = b"\0asm\x0d\x00\x01\x00";
        let (_, outcome) = cache
            .load_or_compile(&home, &engine, empty_component, "empty")
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Compiled);
        let rel = cache.file_for("empty");
        (tmp, home, engine, cache, rel)
    }

    #[test]
    fn a_copy_that_cannot_be_written_or_mapped_falls_back_to_memory() {
        let (_tmp, home, engine, cache, rel) = cached_empty_component();
        let name = rel.to_string_lossy().into_owned();
        // A copy that refuses every write, as on a full disk, and one that takes the
        // bytes but cannot be mapped as code, as on a `noexec` mount.
        let unwritable = File::open(home.join(&rel)).unwrap();
        let unmappable = File::options().write(true).open("/dev/null").unwrap();
        for copy in [unwritable, unmappable] {
            let cached = cache
                .load_cached_via(&home, &engine, &rel, &name, Some(CodeCopy::File(copy)))
                .unwrap();
            assert!(matches!(cached, Cached::Loaded(_)), "not loaded");
        }
        // The valid cache file was kept.
        let (_, outcome) = cache
            .load_or_compile(&home, &engine, b"unused on a hit", "empty")
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Hit);
    }
}
