//! The filesystem capability: directories mounted into the plugin.
//!
//! A mount names a *root* (never a host path): `plugin-data` and `temp` are the
//! plugin's own directories under `$PINCER_HOME`, `recordings` is shared by recorder and
//! viewer plugins, and any other root (such as `workspace`) resolves only through the
//! admin's policy (`pincer root bind`). Each mount is opened once, when the plugin
//! loads, as a directory handle: from the home (built-in roots) or from the root's real
//! path as resolved when the admin bound it, one component at a time without following
//! a symlink ([`crate::store::beneath`]). A link at any component below the directory
//! the admin named (one the plugin planted through another mount, one another plugin
//! planted in a shared root, one a cloned repository brought) refuses the load, naming
//! the path. Every instance is handed those handles as its preopens, never a path to
//! open again, so nothing renamed or swapped after the load changes what a mount is.
//! Inside a handle wasmtime-wasi (cap-std) confines every path: not with `..`, not
//! with an absolute path, not through a symlink. A `read-only` mount refuses every
//! write. With no mount, the plugin's filesystem is empty.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::filesystem::{Descriptor, Dir as WasiDir};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::{FsPerms, OpenMode};

use super::{CapsView, LoadContext};
use crate::manifest::{Invalid, PluginId};
use crate::policy::Policy;
use crate::store::beneath::{self, BeneathError, Missing};
use crate::store::{Home, HomeError};

/// Whether a mount's file operations run on the calling thread (wasmtime-wasi's
/// `allow_blocking_current_thread`) rather than each being handed to tokio's blocking
/// pool and back. A plugin's files are local and its operations short (a `stat`, a
/// `pread` of a few KiB), so the hand-off (two thread wake-ups, a dozen futex calls)
/// cost more than the operation (a 20-line `read_text_file` took 2.1 ms more than a call
/// that reads nothing). The operation holds the thread that runs the call (over stdio,
/// the server's only one) for as long as the kernel takes: microseconds on a local
/// disk, longer on a slow network filesystem.
pub(crate) const BLOCK_IN_PLACE: bool = true;

/// Roots the host provides itself; an admin cannot rebind them.
pub const BUILTIN_ROOTS: [&str; 3] = ["plugin-data", "temp", "recordings"];

/// The `[capabilities.filesystem]` section: the directories a plugin asks for.
/// By default (no section) nothing is mounted.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FilesystemGrant {
    /// The mounts, each at its own guest path.
    #[serde(default)]
    pub mounts: Vec<Spanned<Mount>>,
}

/// One directory mounted into the plugin.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// Where the plugin sees it: an absolute guest path such as `/data`.
    pub guest: Spanned<String>,
    /// The named root it comes from: `plugin-data`, `temp`, `recordings`, or a root
    /// the admin binds (`workspace`, ...).
    pub root: Spanned<String>,
    /// A relative directory inside the root, if not the whole root.
    #[serde(default)]
    pub subdir: Option<Spanned<String>>,
    /// `read-only` or `read-write`.
    pub access: Access,
}

/// What a plugin may do inside a mount.
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Read files and list directories.
    ReadOnly,
    /// Also create, write, rename and remove.
    ReadWrite,
}

impl Access {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        }
    }
}

/// Is `name` a well-formed root name: `a-z`, `0-9` and `-`, starting with a letter?
pub fn is_root_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl FilesystemGrant {
    /// Check the section on its own: guest paths absolute and without `..`, roots
    /// named (not paths), subdirectories relative and without `..`, no guest path
    /// mounted twice.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut guests = BTreeSet::new();
        for mount in &self.mounts {
            let m = mount.get_ref();
            crate::manifest::plain(&m.guest, "guest")?;
            if let Some(sub) = &m.subdir {
                crate::manifest::plain(sub, "subdir")?;
            }
            let guest = m.guest.get_ref();
            if !guest.starts_with('/') {
                return Err(Invalid::at(
                    m.guest.span(),
                    format!("guest path `{guest}` must be absolute, such as `/data`"),
                ));
            }
            if has_parent_or_dot(guest) {
                return Err(Invalid::at(
                    m.guest.span(),
                    format!("guest path `{guest}` must not contain `..` or `.` segments"),
                ));
            }
            let root = m.root.get_ref();
            if root.contains('/') || root.contains('\\') || root.starts_with('~') {
                return Err(Invalid::at(
                    m.root.span(),
                    format!(
                        "`{root}` is a host path; a manifest names a root such as `workspace` and the admin binds it to a directory (`pincer root bind workspace {root}`)"
                    ),
                ));
            }
            if !is_root_name(root) {
                return Err(Invalid::at(
                    m.root.span(),
                    format!(
                        "invalid root name `{root}`: use a-z, 0-9 and `-`, starting with a letter"
                    ),
                ));
            }
            if let Some(sub) = &m.subdir {
                let s = sub.get_ref();
                if s.starts_with('/') || Path::new(s).is_absolute() {
                    return Err(Invalid::at(
                        sub.span(),
                        format!("subdir `{s}` must be relative to its root"),
                    ));
                }
                if has_parent_or_dot(s) || s.is_empty() {
                    return Err(Invalid::at(
                        sub.span(),
                        format!("subdir `{s}` must be a plain relative path without `..`"),
                    ));
                }
            }
            let normalised = guest.trim_end_matches('/').to_owned();
            if !guests.insert(normalised) {
                return Err(Invalid::at(
                    m.guest.span(),
                    format!("guest path `{guest}` is mounted twice"),
                ));
            }
        }
        Ok(())
    }
}

fn has_parent_or_dot(path: &str) -> bool {
    path.split(['/', '\\']).any(|seg| seg == ".." || seg == ".")
}

/// A mount resolved to a real directory and opened, ready to preopen.
#[derive(Clone)]
pub struct ResolvedMount {
    /// The guest path.
    pub guest: String,
    /// The root's name, for messages.
    pub root: String,
    /// The host directory, for messages: what was opened, not what is opened again.
    pub host: PathBuf,
    /// The access granted.
    pub access: Access,
    /// The directory as opened at load, handed to every instance.
    dir: WasiDir,
    /// For a built-in root, how to open it again if it is removed while the plugin is
    /// loaded (another process loading it empties `temp`): the home and the path in it.
    reopen: Option<std::sync::Arc<(cap_std::fs::Dir, PathBuf)>>,
}

impl ResolvedMount {
    /// This mount as an instance should get it: the directory opened at load, or, if
    /// that directory has been removed since (its link count is 0), the one now at its
    /// path, opened again the same way (no link followed, created if missing).
    pub fn current(&self) -> Option<ResolvedMount> {
        let reopen = self.reopen.as_ref()?;
        let removed = rustix::fs::fstat(&*self.dir.dir).is_ok_and(|st| st.st_nlink == 0);
        if !removed {
            return None;
        }
        let (home, rel) = &**reopen;
        let dir = beneath::open_dir(home, rel, Missing::Create).ok()?;
        Some(ResolvedMount {
            dir: WasiDir::new(
                dir.into_std_file(),
                self.dir.perms,
                self.dir.open_mode,
                BLOCK_IN_PLACE,
            ),
            ..self.clone()
        })
    }
}

impl std::fmt::Debug for ResolvedMount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedMount")
            .field("guest", &self.guest)
            .field("root", &self.root)
            .field("host", &self.host)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// Why a mount could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The manifest mounts a root that the admin has not bound.
    #[error(
        "plugin `{plugin}` mounts root `{root}` at `{guest}`, but no directory is bound to `{root}`; an admin binds it with `pincer root bind {root} /path/to/dir`"
    )]
    UnboundRoot {
        /// The plugin.
        plugin: String,
        /// The root's name.
        root: String,
        /// Where the plugin wanted it.
        guest: String,
    },
    /// The directory for a mount is missing or not a directory.
    #[error("plugin `{plugin}` mounts `{guest}` from `{}`, which is not a directory: {reason}", host.display())]
    NotADirectory {
        /// The plugin.
        plugin: String,
        /// Where the plugin wanted it.
        guest: String,
        /// The host directory.
        host: PathBuf,
        /// Why.
        reason: String,
    },
    /// A symlink sits on the way to a mount, below the directory the admin named.
    #[error(
        "plugin `{plugin}` is refused: its mount `{guest}` would pass through the symbolic link `{}`, and Pincer follows none below {}; remove the link (it may have been planted to reach outside the mount){}",
        found.link.display(),
        found.base.display(),
        if found.bound { format!(", or bind root `{0}` again with `pincer root bind {0} DIR`", found.root) } else { String::new() }
    )]
    Symlink {
        /// The plugin.
        plugin: String,
        /// Where the plugin wanted it.
        guest: String,
        /// Where the link is.
        found: Box<LinkFound>,
    },
}

/// Where [`MountError::Symlink`] found a link.
#[derive(Debug)]
pub struct LinkFound {
    /// The root's name.
    pub root: String,
    /// The link.
    pub link: PathBuf,
    /// The directory the admin named (the home, or the bound root).
    pub base: PathBuf,
    /// Whether the root is an admin-bound one.
    pub bound: bool,
}

/// Resolve each mount and open it: built-in roots under the home directory (created as
/// needed, 0700; `temp` is emptied), other roots through the admin's policy, every
/// component opened without following a symlink.
pub fn resolve_mounts(
    grant: &FilesystemGrant,
    plugin: &PluginId,
    home: &Home,
    policy: &Policy,
) -> Result<Vec<ResolvedMount>, MountError> {
    let mut resolved = Vec::new();
    let mut temp_reset = false;
    for mount in &grant.mounts {
        let m = mount.get_ref();
        let root = m.root.get_ref().as_str();
        let guest = m.guest.get_ref().clone();
        let sub = m.subdir.as_ref().map(|s| Path::new(s.get_ref().as_str()));
        let not_dir = |host: &Path, reason: String| MountError::NotADirectory {
            plugin: plugin.to_string(),
            guest: guest.clone(),
            host: host.to_path_buf(),
            reason,
        };
        let refused = |base: &Path, bound: bool, e: BeneathError| match e {
            BeneathError::Symlink { path } => MountError::Symlink {
                plugin: plugin.to_string(),
                guest: guest.clone(),
                found: Box::new(LinkFound {
                    root: root.to_owned(),
                    link: path,
                    base: base.to_path_buf(),
                    bound,
                }),
            },
            BeneathError::NotADirectory { path } => not_dir(&path, "it is not a directory".into()),
            BeneathError::NotPlain { path } => not_dir(&path, "not a plain path".into()),
            BeneathError::Io { path, source } => not_dir(&path, source.to_string()),
        };
        let home_refused = |rel: &Path, e: HomeError| match e {
            HomeError::Beneath(e) => refused(home.path(), false, e),
            e => not_dir(&home.join(rel), e.to_string()),
        };
        let mut reopen = None;
        let (host, dir) = match root {
            "plugin-data" | "temp" | "recordings" => {
                let rel = match root {
                    "plugin-data" => Path::new("data").join(plugin.as_str()),
                    "temp" => Path::new("tmp").join(plugin.as_str()),
                    _ => PathBuf::from("recordings"),
                };
                let rel = match sub {
                    Some(sub) => rel.join(sub),
                    None => rel,
                };
                // The first temp mount empties the plugin's temp root (removing any link
                // in it, following none) before anything is opened in it.
                if root == "temp" && !temp_reset {
                    temp_reset = true;
                    let temp = Path::new("tmp").join(plugin.as_str());
                    home.reset_dir(&temp).map_err(|e| home_refused(&temp, e))?;
                }
                // A subdirectory is created inside built-in roots.
                let dir = home
                    .open_dir(&rel, Missing::Create)
                    .map_err(|e| home_refused(&rel, e))?;
                let handle = home.handle().map_err(|e| home_refused(&rel, e))?;
                reopen = Some(std::sync::Arc::new((handle, rel.clone())));
                (home.join(&rel), dir)
            }
            bound => {
                let Some(base) = policy.roots.get(bound) else {
                    return Err(MountError::UnboundRoot {
                        plugin: plugin.to_string(),
                        root: bound.to_owned(),
                        guest,
                    });
                };
                // `root bind` refuses these; a policy edited by hand may not have.
                if base.starts_with(home.path()) || home.path().starts_with(base) {
                    return Err(not_dir(
                        base,
                        format!(
                            "it overlaps Pincer's home directory {}; bind root `{bound}` to a directory outside it",
                            home.path().display()
                        ),
                    ));
                }
                // The real path the admin was shown at bind time: a link in it now is
                // a change nobody reviewed. A subdirectory must already exist.
                let opened = beneath::open_absolute(base).and_then(|dir| match sub {
                    Some(sub) => {
                        beneath::open_dir(&dir, sub, Missing::Fail).map_err(|e| e.under(base))
                    }
                    None => Ok(dir),
                });
                let dir = opened.map_err(|e| refused(base, true, e))?;
                (sub.map_or_else(|| base.clone(), |sub| base.join(sub)), dir)
            }
        };
        let (perms, mode) = match m.access {
            Access::ReadOnly => (FsPerms::ReadOnly, OpenMode::READ),
            Access::ReadWrite => (FsPerms::ReadWrite, OpenMode::READ | OpenMode::WRITE),
        };
        let guest = m.guest.get_ref().trim_end_matches('/');
        resolved.push(ResolvedMount {
            guest: if guest.is_empty() { "/" } else { guest }.to_owned(),
            root: root.to_owned(),
            host,
            access: m.access,
            dir: WasiDir::new(dir.into_std_file(), perms, mode, BLOCK_IN_PLACE),
            reopen,
        });
    }
    Ok(resolved)
}

/// The mounts of the plugin in `load`, opened now ([`resolve_mounts`]); none without
/// a `[capabilities.filesystem]` grant.
pub fn mounts(load: &LoadContext<'_>) -> Result<Vec<ResolvedMount>, MountError> {
    match &load.manifest.capabilities.filesystem {
        Some(grant) => resolve_mounts(grant, &load.manifest.plugin.id, load.home, load.policy),
        None => Ok(Vec::new()),
    }
}

/// The mounts an instance gets: the ones opened at load, each replaced by its
/// directory opened again if it was removed since ([`ResolvedMount::current`]).
pub fn current(mounts: &Arc<[ResolvedMount]>) -> Arc<[ResolvedMount]> {
    let fresh: Vec<Option<ResolvedMount>> = mounts.iter().map(ResolvedMount::current).collect();
    if fresh.iter().all(Option::is_none) {
        return mounts.clone();
    }
    mounts
        .iter()
        .zip(fresh)
        .map(|(old, new)| new.unwrap_or_else(|| old.clone()))
        .collect()
}

/// Link `wasi:filesystem/preopens` to [`Preopens`]: the instance's mounts.
pub fn add_preopens_to_linker<T: CapsView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    preopens::add_to_linker::<T, Preopens>(linker, |t| {
        let view = t.caps();
        PreopensView {
            table: view.table,
            mounts: &view.caps.mounts,
        }
    })
}

/// The `wasi:filesystem/preopens` host: each instance gets its plugin's mounts as they
/// were opened at load ([`resolve_mounts`]), never a path to open again.
pub struct Preopens;

impl HasData for Preopens {
    type Data<'a> = PreopensView<'a>;
}

/// What [`Preopens`] needs of an instance: its resource table and its plugin's mounts.
pub struct PreopensView<'a> {
    /// The instance's resource table, shared with the rest of `wasi:filesystem`.
    pub table: &'a mut ResourceTable,
    /// The plugin's opened mounts.
    pub mounts: &'a [ResolvedMount],
}

impl preopens::Host for PreopensView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<Descriptor>, String)>> {
        // A full resource table is an exhausted limit: a trap.
        self.mounts
            .iter()
            .map(|m| {
                let fd = self.table.push(Descriptor::Dir(m.dir.clone()))?;
                Ok((fd, m.guest.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;

    use super::*;
    use crate::caps::testing::{Fixture, PLUGIN};

    fn preopens(f: &Fixture, sections: &str) -> Vec<String> {
        let caps = f.instance(sections);
        let mut table = ResourceTable::new();
        let dirs = PreopensView {
            table: &mut table,
            mounts: &caps.mounts,
        }
        .get_directories()
        .unwrap();
        dirs.into_iter().map(|(_, guest)| guest).collect()
    }

    #[test]
    fn granted_mounts_are_the_preopens_at_their_guest_paths_and_opened_at_load() {
        let f = Fixture::new();
        let sections = "[[capabilities.filesystem.mounts]]\nguest = \"/data\"\nroot = \"plugin-data\"\naccess = \"read-write\"\n\n[[capabilities.filesystem.mounts]]\nguest = \"/tmp\"\nroot = \"temp\"\naccess = \"read-write\"\n";
        assert_eq!(preopens(&f, sections), ["/data", "/tmp"]);
        let caps = f.try_caps(sections).unwrap();
        let data = &caps.mounts()[0];
        assert_eq!(data.access, Access::ReadWrite);
        assert!(
            data.host.ends_with(format!("data/{PLUGIN}")),
            "{}",
            data.host.display()
        );
    }

    #[test]
    fn without_a_grant_there_is_no_preopen() {
        let f = Fixture::new();
        assert!(preopens(&f, "").is_empty());
    }

    #[test]
    fn an_unbound_root_refuses_the_load_naming_the_command_that_binds_it() {
        let f = Fixture::new();
        let e = f
            .try_caps("[[capabilities.filesystem.mounts]]\nguest = \"/w\"\nroot = \"workspace\"\naccess = \"read-only\"\n")
            .err()
            .expect("refused");
        assert!(e.to_string().contains("pincer root bind workspace"), "{e}");
    }

    #[test]
    fn a_full_resource_table_traps_instead_of_handing_out_a_descriptor() {
        let f = Fixture::new();
        let caps = f.try_caps("[[capabilities.filesystem.mounts]]\nguest = \"/data\"\nroot = \"plugin-data\"\naccess = \"read-only\"\n").unwrap();
        let mut table = ResourceTable::new();
        table.set_max_capacity(0);
        let got = PreopensView {
            table: &mut table,
            mounts: caps.mounts(),
        }
        .get_directories();
        assert!(got.is_err());
    }
}
