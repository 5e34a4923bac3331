//! The filesystem capability: directories mounted into the plugin.
//!
//! A mount names a *root* (never a host path): `plugin-data` and `temp` are the
//! plugin's own directories under `$PINCER_HOME`, `recordings` is shared by recorder and
//! viewer plugins, and any other root (such as `workspace`) resolves only through the
//! admin's policy (`pincer root bind`). Each mount becomes a wasmtime-wasi preopen over
//! a cap-std directory, so the plugin cannot name a path outside it: not with `..`, not
//! with an absolute path, not through a symlink. A `read-only` mount refuses every
//! write. With no mount, the plugin's filesystem is empty.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::manifest::{Invalid, PluginId};
use crate::policy::Policy;
use crate::store::Home;

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

/// A mount resolved to a real directory, ready to preopen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMount {
    /// The guest path.
    pub guest: String,
    /// The root's name, for messages.
    pub root: String,
    /// The host directory.
    pub host: PathBuf,
    /// The access granted.
    pub access: Access,
}

/// Why a mount could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
}

/// Resolve each mount to a host directory: built-in roots under the home directory
/// (created as needed; `temp` is emptied), other roots through the admin's policy.
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
        let not_dir = |host: &Path, reason: String| MountError::NotADirectory {
            plugin: plugin.to_string(),
            guest: guest.clone(),
            host: host.to_path_buf(),
            reason,
        };
        let base = match root {
            "plugin-data" | "temp" | "recordings" => {
                let rel = match root {
                    "plugin-data" => Path::new("data").join(plugin.as_str()),
                    "temp" => Path::new("tmp").join(plugin.as_str()),
                    _ => PathBuf::from("recordings"),
                };
                let made = if root == "temp" && !temp_reset {
                    temp_reset = true;
                    home.reset_dir(&rel)
                } else {
                    home.create_dir_all(&rel)
                };
                made.map_err(|e| not_dir(&home.join(&rel), e.to_string()))?;
                home.join(&rel)
            }
            bound => match policy.roots.get(bound) {
                Some(dir) => dir.clone(),
                None => {
                    return Err(MountError::UnboundRoot {
                        plugin: plugin.to_string(),
                        root: bound.to_owned(),
                        guest,
                    });
                }
            },
        };
        let host = match &m.subdir {
            Some(sub) => {
                let p = base.join(sub.get_ref());
                // A subdirectory is created inside built-in roots; in admin-bound roots
                // it must already exist.
                if BUILTIN_ROOTS.contains(&root) {
                    std::fs::create_dir_all(&p).map_err(|e| not_dir(&p, e.to_string()))?;
                }
                p
            }
            None => base,
        };
        if Path::new(&host)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(not_dir(&host, "the path contains `..`".into()));
        }
        match std::fs::metadata(&host) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(not_dir(&host, "it is a file".into())),
            Err(e) => return Err(not_dir(&host, e.to_string())),
        }
        resolved.push(ResolvedMount {
            guest: m.guest.get_ref().trim_end_matches('/').to_owned(),
            root: root.to_owned(),
            host,
            access: m.access,
        });
    }
    Ok(resolved)
}

/// Add the resolved mounts to a WASI context as preopens.
pub fn add_preopens(wasi: &mut WasiCtxBuilder, mounts: &[ResolvedMount]) -> wasmtime::Result<()> {
    for m in mounts {
        let perms = match m.access {
            Access::ReadOnly => FsPerms::ReadOnly,
            Access::ReadWrite => FsPerms::ReadWrite,
        };
        let guest = if m.guest.is_empty() { "/" } else { &m.guest };
        wasi.preopened_dir(&m.host, guest, perms)?;
    }
    Ok(())
}
