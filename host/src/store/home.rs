//! The home directory, `$PINCER_HOME` (default `~/.pincer`): where Pincer keeps its
//! policy, keys, compile cache and each plugin's data.
//!
//! This module owns the layout of the home directory and every write into it. All
//! access goes through one cap-std [`Dir`] opened on the home directory, so a path bug
//! elsewhere in the host cannot reach outside it. It never follows a path that a
//! plugin or a manifest supplied, and it follows no symlink when it opens, creates,
//! empties or removes a directory ([`super::beneath`]): plugins write into `data/`,
//! `tmp/` and `recordings/`, and a link one of them planted there must not lead the
//! host's own work elsewhere in the home. Everything it creates is private to the user:
//! directories 0700 (the home itself too), files with the mode their caller names.
//!
//! Layout:
//!
//! | path | what |
//! |---|---|
//! | `policy.toml` | the admin's policy: bound roots, limit caps |
//! | `keys/` | host secrets, mode 0600 (`cache.key` authenticates compiled code) |
//! | `cache/` | compiled components, authenticated with `keys/cache.key` |
//! | `data/<plugin-id>/` | each plugin's `plugin-data` root |
//! | `tmp/<plugin-id>/` | each plugin's `temp` root, emptied when the plugin loads |
//! | `recordings/` | the `recordings` root shared by recorder and viewer plugins |
//! | `trust.json` | the trust store: publisher keys an admin trusts or revoked |
//! | `plugins/<plugin-id>/` | an installed plugin: `state.json` and its verified bundles |
//! | `audit/` | the HMAC-chained audit log and its chain head (`keys/audit.key`) |

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt};
use rand::RngCore;

use super::beneath::{self, BeneathError, Missing};

/// The environment variable that names the home directory.
pub const HOME_ENV: &str = "PINCER_HOME";

/// Errors opening or writing the home directory.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// No `--home`, no `$PINCER_HOME` and no `$HOME` to put `~/.pincer` in.
    #[error("cannot find a home directory: set $PINCER_HOME or pass --home DIR")]
    NoHome,
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path, relative to the home directory when it is inside it.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A secret key file is readable by other users.
    #[error(
        "{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` and check who else read it"
    )]
    KeyTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A directory could not be opened without following a link, or is not one.
    #[error(transparent)]
    Beneath(#[from] BeneathError),
    /// A secret key file has the wrong length.
    #[error("{path} is not a {expected}-byte key; remove it to have Pincer make a new one")]
    KeyMalformed {
        /// The key file.
        path: PathBuf,
        /// The expected length.
        expected: usize,
    },
}

/// The opened home directory.
#[derive(Debug)]
pub struct Home {
    path: PathBuf,
    dir: Dir,
}

impl Home {
    /// Open (and create if needed) the home directory: `explicit` if given, else
    /// `$PINCER_HOME`, else `~/.pincer`.
    pub fn open(explicit: Option<&Path>) -> Result<Self, HomeError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os(HOME_ENV) {
                Some(p) if !p.is_empty() => PathBuf::from(p),
                _ => std::env::home_dir()
                    .ok_or(HomeError::NoHome)?
                    .join(".pincer"),
            },
        };
        Self::open_at(&path)
    }

    /// Open (and create if needed) the home directory at `path`.
    pub fn open_at(path: &Path) -> Result<Self, HomeError> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|source| HomeError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        let path = path.canonicalize().map_err(|source| HomeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let dir =
            Dir::open_ambient_dir(&path, ambient_authority()).map_err(|source| HomeError::Io {
                path: path.clone(),
                source,
            })?;
        // It holds keys and every plugin's data: nobody else may even list it. A home
        // made by an older Pincer, or by hand, is tightened here, by its owner only (a
        // home another account shares is that account's to set).
        if let Ok(meta) = dir.dir_metadata()
            && cap_std::fs::MetadataExt::mode(&meta) & 0o077 != 0
            && cap_std::fs::MetadataExt::uid(&meta) == rustix::process::geteuid().as_raw()
        {
            use std::os::unix::fs::PermissionsExt as _;
            let private = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(&path, private).map_err(|source| HomeError::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(Home { path, dir })
    }

    /// The home directory's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute path of `rel` inside the home directory, for messages and for the
    /// APIs that need a path (wasmtime-wasi preopens).
    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    fn io(&self, rel: &Path) -> impl FnOnce(io::Error) -> HomeError {
        let path = self.join(rel);
        move |source| HomeError::Io { path, source }
    }

    /// Create the directory `rel` and its parents inside the home directory (mode
    /// 0700), following no symlink on the way.
    pub fn create_dir_all(&self, rel: impl AsRef<Path>) -> Result<(), HomeError> {
        self.open_dir(rel, Missing::Create).map(drop)
    }

    /// Open the directory `rel` inside the home directory as a handle, following no
    /// symlink at any component; missing ones are created (mode 0700) or refused, as
    /// `missing` says.
    pub fn open_dir(&self, rel: impl AsRef<Path>, missing: Missing) -> Result<Dir, HomeError> {
        beneath::open_dir(&self.dir, rel.as_ref(), missing)
            .map_err(|e| HomeError::Beneath(e.under(&self.path)))
    }

    /// A handle of its own on the home directory, for opening beneath it later.
    pub fn handle(&self) -> Result<Dir, HomeError> {
        self.dir.try_clone().map_err(self.io(Path::new("")))
    }

    /// The directory holding `rel`, opened without following a link, and `rel`'s last
    /// component; `None` if that directory does not exist.
    fn parent_of<'a>(&self, rel: &'a Path) -> Result<Option<(Dir, &'a OsStr)>, HomeError> {
        let Some(name) = rel.file_name() else {
            return Err(HomeError::Beneath(BeneathError::NotPlain {
                path: self.join(rel),
            }));
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        match beneath::open_dir(&self.dir, parent, Missing::Fail) {
            Ok(dir) => Ok(Some((dir, name))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(HomeError::Beneath(e.under(&self.path))),
        }
    }

    /// Read the file `rel`, or `None` if it does not exist.
    pub fn read_optional(&self, rel: impl AsRef<Path>) -> Result<Option<Vec<u8>>, HomeError> {
        let rel = rel.as_ref();
        match self.dir.read(rel) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(rel)(e)),
        }
    }

    /// Open the file `rel` for reading, or `None` if it does not exist.
    pub fn open_optional(&self, rel: impl AsRef<Path>) -> Result<Option<std::fs::File>, HomeError> {
        let rel = rel.as_ref();
        match self.dir.open(rel) {
            Ok(file) => Ok(Some(file.into_std())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(rel)(e)),
        }
    }

    /// Remove the file `rel`; a missing file is not an error.
    pub fn remove_file(&self, rel: impl AsRef<Path>) -> Result<(), HomeError> {
        let rel = rel.as_ref();
        match self.dir.remove_file(rel) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io(rel)(e)),
            _ => Ok(()),
        }
    }

    /// Empty the directory `rel` (creating it if needed), following no symlink: a link
    /// in its place or inside it is removed, not followed.
    pub fn reset_dir(&self, rel: impl AsRef<Path>) -> Result<(), HomeError> {
        let rel = rel.as_ref();
        self.remove_dir_all(rel)?;
        self.create_dir_all(rel)
    }

    /// Write `bytes` to `rel` atomically: a reader sees the old file or the new one,
    /// never a mix, and a crash leaves the old one. The file gets `mode`.
    pub fn write_atomic(
        &self,
        rel: impl AsRef<Path>,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), HomeError> {
        let rel = rel.as_ref();
        let parent = rel.parent().unwrap_or(Path::new(""));
        let name = rel.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(".{name}.{:016x}.tmp", rand::rng().next_u64()));
        self.write_new(&tmp, bytes, mode)?;
        self.dir.rename(&tmp, &self.dir, rel).map_err(|e| {
            let _ = self.dir.remove_file(&tmp);
            self.io(rel)(e)
        })?;
        self.sync_parent(rel);
        Ok(())
    }

    /// Remove the directory `rel` and everything in it; a missing one is not an error.
    /// No symlink is followed: not on the way to `rel` (refused), not at `rel` itself
    /// (the link is removed), not inside it (links are removed, their targets kept).
    pub fn remove_dir_all(&self, rel: impl AsRef<Path>) -> Result<(), HomeError> {
        let rel = rel.as_ref();
        let Some((parent, name)) = self.parent_of(rel)? else {
            return Ok(());
        };
        let removed = match parent.symlink_metadata(name) {
            Ok(meta) if meta.is_symlink() || !meta.is_dir() => parent.remove_file(name),
            Ok(_) => parent.remove_dir_all(name),
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(self.io(rel)(e)),
            _ => Ok(()),
        }
    }

    /// Rename `from` to `to` (both inside the home directory), atomically.
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<(), HomeError> {
        let (from, to) = (from.as_ref(), to.as_ref());
        self.dir.rename(from, &self.dir, to).map_err(self.io(to))?;
        self.sync_parent(to);
        Ok(())
    }

    /// Make a rename into `rel`'s directory durable; failing to sync a directory is
    /// not fatal.
    fn sync_parent(&self, rel: &Path) {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let dir = if parent.as_os_str().is_empty() {
            self.dir.try_clone().ok()
        } else {
            self.dir.open_dir(parent).ok()
        };
        if let Some(d) = dir {
            let _ = d.open(".").and_then(|f| f.sync_all());
        }
    }

    /// The names of the entries of directory `rel`, sorted; empty if it does not exist.
    pub fn list_dir(&self, rel: impl AsRef<Path>) -> Result<Vec<String>, HomeError> {
        let rel = rel.as_ref();
        let entries = match self.dir.read_dir(rel) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(rel)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(self.io(rel))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Write `bytes` to a new file `rel` (which must not exist) and flush it to disk.
    pub fn write_new(
        &self,
        rel: impl AsRef<Path>,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), HomeError> {
        let rel = rel.as_ref();
        let write = || -> io::Result<()> {
            let mut file = self.dir.open_with(
                rel,
                OpenOptions::new().write(true).create_new(true).mode(mode),
            )?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        write().map_err(self.io(rel))
    }

    /// Take a lock on the file `rel` (created if missing), exclusive or shared, waiting
    /// for other Pincer processes that hold it. The lock is released when the file is dropped.
    pub fn lock(&self, rel: impl AsRef<Path>, exclusive: bool) -> Result<std::fs::File, HomeError> {
        let rel = rel.as_ref();
        if let Some(parent) = rel.parent() {
            self.create_dir_all(parent)?;
        }
        let file = self
            .dir
            .open_with(
                rel,
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .mode(0o600),
            )
            .map_err(self.io(rel))?
            .into_std();
        if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        }
        .map_err(self.io(rel))?;
        Ok(file)
    }

    /// Open the file `rel` with `options` (read, write, append, create...), as a
    /// standard file.
    pub fn open_file(
        &self,
        rel: impl AsRef<Path>,
        options: &OpenOptions,
    ) -> Result<std::fs::File, HomeError> {
        let rel = rel.as_ref();
        Ok(self
            .dir
            .open_with(rel, options)
            .map_err(self.io(rel))?
            .into_std())
    }

    /// Append `bytes` to the file `rel` (created with `mode` if missing) and flush it.
    pub fn append(&self, rel: impl AsRef<Path>, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
        let rel = rel.as_ref();
        let write = || -> io::Result<()> {
            let mut file = self
                .dir
                .open_with(rel, OpenOptions::new().append(true).create(true).mode(mode))?;
            file.write_all(bytes)?;
            file.sync_data()
        };
        write().map_err(self.io(rel))
    }

    /// Read the `N`-byte secret key `rel`, creating it with fresh random bytes and mode
    /// 0600 on first use. A key that others can read is refused.
    pub fn secret_key<const N: usize>(&self, rel: impl AsRef<Path>) -> Result<[u8; N], HomeError> {
        let rel = rel.as_ref();
        if let Some(parent) = rel.parent() {
            self.create_dir_all(parent)?;
            let _ = self
                .dir
                .set_permissions(parent, Permissions::from_mode(0o700));
        }
        match self.dir.metadata(rel) {
            Ok(meta) => {
                let mode = cap_std::fs::MetadataExt::mode(&meta) & 0o777;
                if mode & 0o077 != 0 {
                    return Err(HomeError::KeyTooOpen {
                        path: self.join(rel),
                        mode,
                    });
                }
                let bytes = self.dir.read(rel).map_err(self.io(rel))?;
                bytes.try_into().map_err(|_| HomeError::KeyMalformed {
                    path: self.join(rel),
                    expected: N,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut key = [0u8; N];
                rand::rng().fill_bytes(&mut key);
                self.write_atomic(rel, &key, 0o600)?;
                Ok(key)
            }
            Err(e) => Err(self.io(rel)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn creates_secret_keys_with_mode_0600_and_reads_them_back() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let first: [u8; 32] = home.secret_key("keys/test.key").unwrap();
        let again: [u8; 32] = home.secret_key("keys/test.key").unwrap();
        assert_eq!(first, again);
        let mode = std::fs::metadata(tmp.path().join("keys/test.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn refuses_a_key_that_others_can_read() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let _: [u8; 32] = home.secret_key("keys/test.key").unwrap();
        let path = tmp.path().join("keys/test.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = home.secret_key::<32>("keys/test.key").unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn atomic_writes_replace_the_whole_file_and_leave_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        home.create_dir_all("a").unwrap();
        home.write_atomic("a/f", b"first version", 0o644).unwrap();
        home.write_atomic("a/f", b"second", 0o644).unwrap();
        assert_eq!(home.read_optional("a/f").unwrap().unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }
}
