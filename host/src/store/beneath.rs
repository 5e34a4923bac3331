//! Opening directories beneath a trusted one without following any symbolic link.
//!
//! This module owns the one rule for every directory that a plugin may write into
//! (its mounts) and every directory the host works in under `$PINCER_HOME`: below the
//! directory an admin named (the home, or a root's real path resolved when it was
//! bound), no symlink is ever followed. A path is walked one component at a time, each
//! opened relative to the last with `O_NOFOLLOW | O_DIRECTORY`, so a link planted at any
//! component (by a plugin through another mount, by another plugin, or shipped in a
//! cloned repository) refuses the open instead of leading elsewhere; what is opened is
//! a handle, and it keeps naming the same directory whatever is renamed or swapped
//! later.
//!
//! cap-std confines paths *inside* a handle, but its `open_dir` still follows a link
//! that stays beneath the handle (`cache -> ..`), and it offers no per-component
//! no-follow open; hence these few system calls, through rustix's safe wrappers.
//!
//! It must never take `..`, `.` or an absolute component from a relative path, and never
//! create anything with wider permissions than owner-only.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// What to do when a component of the path does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it, mode 0700.
    Create,
    /// Fail with [`BeneathError::Io`] (`NotFound`).
    Fail,
}

/// Why a directory could not be opened beneath its base. Paths are relative to the base
/// (or absolute for [`open_absolute`]).
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// A component is a symbolic link.
    #[error(
        "`{}` is a symbolic link, and Pincer follows none below the directory an admin named",
        path.display()
    )]
    Symlink {
        /// The path up to and including the link.
        path: PathBuf,
    },
    /// A component exists but is not a directory.
    #[error("`{}` is not a directory", path.display())]
    NotADirectory {
        /// The path up to and including it.
        path: PathBuf,
    },
    /// The path has a `..`, `.`, root or prefix component where only names may be.
    #[error("`{}` is not a plain path of names", path.display())]
    NotPlain {
        /// The path.
        path: PathBuf,
    },
    /// The system refused.
    #[error("`{}`: {source}", path.display())]
    Io {
        /// The path up to the component that failed.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

impl BeneathError {
    /// The same error with its path put under `base` (for messages with full paths).
    pub fn under(self, base: &Path) -> Self {
        match self {
            BeneathError::Symlink { path } => BeneathError::Symlink {
                path: base.join(path),
            },
            BeneathError::NotADirectory { path } => BeneathError::NotADirectory {
                path: base.join(path),
            },
            BeneathError::NotPlain { path } => BeneathError::NotPlain {
                path: base.join(path),
            },
            BeneathError::Io { path, source } => BeneathError::Io {
                path: base.join(path),
                source,
            },
        }
    }

    /// Whether a component was missing (and [`Missing::Fail`] said not to create it).
    pub fn is_not_found(&self) -> bool {
        matches!(self, BeneathError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Open the directory `rel` beneath `base`, following no symlink at any component;
/// missing components are created (mode 0700) or refused, as `missing` says. An empty
/// `rel` opens `base` again.
pub fn open_dir(base: &Dir, rel: &Path, missing: Missing) -> Result<Dir, BeneathError> {
    let names = plain_names(rel)?;
    let last = names.len();
    let mut current: Option<OwnedFd> = None;
    let mut walked = PathBuf::new();
    for (i, name) in names.into_iter().enumerate() {
        walked.push(name);
        let final_one = i + 1 == last;
        let next = match &current {
            Some(fd) => open_one(fd, name, missing, &walked, final_one)?,
            None => open_one(base, name, missing, &walked, final_one)?,
        };
        current = Some(next);
    }
    match current {
        Some(fd) => Ok(Dir::from_std_file(fd.into())),
        None => base.try_clone().map_err(|source| BeneathError::Io {
            path: PathBuf::new(),
            source,
        }),
    }
}

/// Open the absolute directory `path` from `/`, following no symlink at any component:
/// for a path that was resolved to its real path once (an admin-bound root), so that a
/// link that appeared in it since is refused rather than followed.
pub fn open_absolute(path: &Path) -> Result<Dir, BeneathError> {
    let rel = path.strip_prefix("/").map_err(|_| BeneathError::NotPlain {
        path: path.to_path_buf(),
    })?;
    let root = Dir::open_ambient_dir("/", cap_std::ambient_authority()).map_err(|source| {
        BeneathError::Io {
            path: PathBuf::from("/"),
            source,
        }
    })?;
    open_dir(&root, rel, Missing::Fail).map_err(|e| e.under(Path::new("/")))
}

/// The names of `rel`, refusing anything else (`..`, `.`, `/`, a prefix). Empty
/// components (`a//b`) are skipped by [`Path::components`].
fn plain_names(rel: &Path) -> Result<Vec<&OsStr>, BeneathError> {
    rel.components()
        .map(|c| match c {
            Component::Normal(name) => Ok(name),
            _ => Err(BeneathError::NotPlain {
                path: rel.to_path_buf(),
            }),
        })
        .collect()
}

/// Open the directory `name` (one component) in `dir` without following a link,
/// creating it first if it is missing and `missing` says so. `walked` names it in errors.
/// Only the `last` component is opened for reading; the ones on the way are opened as
/// paths (Linux `O_PATH`), which needs only search permission, as a path lookup does.
fn open_one(
    dir: impl AsFd,
    name: &OsStr,
    missing: Missing,
    walked: &Path,
    last: bool,
) -> Result<OwnedFd, BeneathError> {
    #[cfg(target_os = "linux")]
    let access = if last { OFlags::RDONLY } else { OFlags::PATH };
    #[cfg(not(target_os = "linux"))]
    let access = OFlags::RDONLY;
    let flags = access | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let io = |e: Errno| BeneathError::Io {
        path: walked.to_path_buf(),
        source: e.into(),
    };
    match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        Err(Errno::NOENT) if missing == Missing::Create => {
            match rustix::fs::mkdirat(&dir, name, Mode::RWXU) {
                // Made by someone else meanwhile: open whatever is there now, no-follow.
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io(e)),
            }
            rustix::fs::openat(&dir, name, flags, Mode::empty())
                .map_err(|e| refusal(&dir, name, e, walked))
        }
        Err(e) => Err(refusal(&dir, name, e, walked)),
    }
}

/// Why `name` in `dir` could not be opened as a directory: a symlink (`ELOOP`, or
/// `ENOTDIR` on some systems), a file, or the system's own reason.
fn refusal(dir: impl AsFd, name: &OsStr, e: Errno, walked: &Path) -> BeneathError {
    if matches!(e, Errno::LOOP | Errno::NOTDIR) {
        let kind = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .map(|st| FileType::from_raw_mode(st.st_mode));
        return match kind {
            Ok(FileType::Symlink) => BeneathError::Symlink {
                path: walked.to_path_buf(),
            },
            _ => BeneathError::NotADirectory {
                path: walked.to_path_buf(),
            },
        };
    }
    BeneathError::Io {
        path: walked.to_path_buf(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn base() -> (tempfile::TempDir, Dir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).unwrap();
        (tmp, dir)
    }

    #[test]
    fn opens_and_creates_nested_directories_owner_only() {
        let (tmp, base) = base();
        let opened = open_dir(&base, Path::new("a/b/c"), Missing::Create).unwrap();
        opened.write("f", b"x").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a/b/c/f")).unwrap(), b"x");
        let mode = std::fs::metadata(tmp.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // Opened again, not created again.
        open_dir(&base, Path::new("a/b/c"), Missing::Fail).unwrap();
    }

    #[test]
    fn refuses_a_symlink_at_any_component_even_one_that_stays_beneath() {
        let (tmp, base) = base();
        std::fs::create_dir_all(tmp.path().join("data/cache")).unwrap();
        std::fs::create_dir(tmp.path().join("keys")).unwrap();
        // The last component, climbing back to the base itself.
        std::fs::remove_dir(tmp.path().join("data/cache")).unwrap();
        symlink("..", tmp.path().join("data/cache")).unwrap();
        let err = open_dir(&base, Path::new("data/cache"), Missing::Create).unwrap_err();
        assert!(
            matches!(&err, BeneathError::Symlink { path } if path == Path::new("data/cache")),
            "{err}"
        );
        // A middle component.
        symlink("keys", tmp.path().join("link")).unwrap();
        let err = open_dir(&base, Path::new("link/inner"), Missing::Create).unwrap_err();
        assert!(
            matches!(&err, BeneathError::Symlink { path } if path == Path::new("link")),
            "{err}"
        );
        assert!(
            !tmp.path().join("keys/inner").exists(),
            "created through the link"
        );
        // A dangling link is refused too, not created through.
        symlink("/nonexistent-target", tmp.path().join("dangling")).unwrap();
        let err = open_dir(&base, Path::new("dangling"), Missing::Create).unwrap_err();
        assert!(matches!(err, BeneathError::Symlink { .. }), "{err}");
    }

    #[test]
    fn refuses_files_parent_components_and_missing_directories() {
        let (tmp, base) = base();
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        let err = open_dir(&base, Path::new("file"), Missing::Create).unwrap_err();
        assert!(matches!(err, BeneathError::NotADirectory { .. }), "{err}");
        for bad in ["../x", "a/../b", "/etc", "./a"] {
            let err = open_dir(&base, Path::new(bad), Missing::Create).unwrap_err();
            assert!(matches!(err, BeneathError::NotPlain { .. }), "{bad}: {err}");
        }
        let err = open_dir(&base, Path::new("absent"), Missing::Fail).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(!tmp.path().join("absent").exists());
    }

    #[test]
    fn an_absolute_path_with_a_link_in_it_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("dir")).unwrap();
        symlink(real.join("dir"), real.join("alias")).unwrap();
        open_absolute(&real.join("dir")).unwrap();
        let err = open_absolute(&real.join("alias")).unwrap_err();
        assert!(
            matches!(&err, BeneathError::Symlink { path } if *path == real.join("alias")),
            "{err}"
        );
    }
}
