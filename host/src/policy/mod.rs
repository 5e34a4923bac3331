//! The admin's policy, `$PINCER_HOME/policy.toml`: which directories the named roots
//! stand for, and the caps on every plugin's limits; and what an approval covers:
//! canonical grant sets and how they compare ([`grants`]), and the risk of each grant
//! ([`risk`]).
//!
//! A manifest asks; the policy decides. This module reads, checks and writes the policy
//! file and its roots; `limits.rs` computes a plugin's effective limits and
//! `approvals.rs` holds the approval rules. Tool definitions (pins, the poisoning
//! review) are not admin policy: they are [`crate::tools`]. By default no root is bound and the
//! caps are [`LimitCaps::default`].

mod approvals;
pub mod grants;
mod limits;
pub mod risk;

pub use approvals::{ApprovalPolicy, ApprovalRule};
pub use limits::{CappedLimits, DEFAULT_LIMITS, LimitCaps, Limits};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::caps::filesystem::{BUILTIN_ROOTS, is_root_name};
use crate::manifest::ManifestError;
use crate::store::{Home, HomeError};

/// The policy file's name inside the home directory.
pub const POLICY_FILE: &str = "policy.toml";

/// Errors reading or changing the policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy file is malformed.
    #[error(transparent)]
    Parse(#[from] ManifestError),
    /// The home directory failed.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// A root name is malformed or reserved.
    #[error("cannot bind root `{name}`: {reason}")]
    BadRoot {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The admin's policy.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Named roots bound to absolute host directories, such as
    /// `workspace = "/home/me/project"`.
    #[serde(default)]
    pub roots: BTreeMap<String, PathBuf>,
    /// Caps on what any manifest may ask for.
    #[serde(default)]
    pub limits: LimitCaps,
    /// How each plugin's approval requests are answered, by plugin id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub approvals: BTreeMap<String, ApprovalPolicy>,
    /// The admin's side of each plugin's HTTP grant, by plugin id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http: BTreeMap<String, HttpPolicy>,
}

/// The admin's side of one plugin's HTTP grant. By default nothing more is allowed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpPolicy {
    /// Let the plugin reach loopback, private, link-local and other internal addresses,
    /// if its manifest also asks (`private_networks = true`). Default false.
    #[serde(default)]
    pub allow_private_networks: bool,
}

impl Policy {
    /// Read the policy from `home`; no file means the default policy.
    pub fn load(home: &Home) -> Result<Self, PolicyError> {
        let Some(bytes) = home.read_optional(POLICY_FILE)? else {
            return Ok(Policy::default());
        };
        let path = home.join(POLICY_FILE);
        let text = String::from_utf8_lossy(&bytes);
        let policy: Policy =
            toml::from_str(&text).map_err(|e| ManifestError::from_toml(&path, &text, e))?;
        Ok(policy)
    }

    /// Write the policy to `home` atomically.
    pub fn save(&self, home: &Home) -> Result<(), PolicyError> {
        let text = toml::to_string_pretty(self).expect("a policy always serialises");
        let text = format!(
            "# Pincer's admin policy. Edit with `pincer root bind|unbind`, or by hand.\n{text}"
        );
        home.write_atomic(POLICY_FILE, text.as_bytes(), 0o600)?;
        Ok(())
    }

    /// Bind the root `name` to the directory `dir`, made absolute and resolved to its
    /// real path once, here: plugins mounting the root see that directory, and a link
    /// that appears in that path later refuses their load instead of being followed. A
    /// directory that is `home`, inside it or holds it is refused: a plugin mounting
    /// it could read the host's keys or forge its state.
    pub fn bind_root(
        &mut self,
        name: &str,
        dir: &Path,
        home: &Home,
    ) -> Result<PathBuf, PolicyError> {
        let bad = |reason: String| PolicyError::BadRoot {
            name: name.to_owned(),
            reason,
        };
        if !is_root_name(name) {
            return Err(bad("use a-z, 0-9 and `-`, starting with a letter".into()));
        }
        if BUILTIN_ROOTS.contains(&name) {
            return Err(bad(format!(
                "`{name}` is provided by Pincer itself and cannot be rebound"
            )));
        }
        let resolved = dir
            .canonicalize()
            .map_err(|e| bad(format!("{}: {e}", dir.display())))?;
        if !resolved.is_dir() {
            return Err(bad(format!("{} is not a directory", resolved.display())));
        }
        if resolved.starts_with(home.path()) || home.path().starts_with(&resolved) {
            return Err(bad(format!(
                "{} overlaps Pincer's home directory {}, which holds its keys and every plugin's state; bind a directory outside it",
                resolved.display(),
                home.path().display()
            )));
        }
        self.roots.insert(name.to_owned(), resolved.clone());
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::manifest::LimitsRequest;

    #[test]
    fn the_most_specific_approval_rule_wins_and_ask_is_the_default() {
        let p: Policy = toml::from_str(
            "[approvals.\"com.example.mail\"]\ndefault = \"deny\"\ntimeout_s = 5\n[approvals.\"com.example.mail\".actions]\nsend = \"ask\"\n[approvals.\"com.example.mail\".tools]\nsync = \"allow\"\n",
        )
        .unwrap();
        let a = &p.approvals["com.example.mail"];
        assert_eq!(a.rule("send", Some("sync")), ApprovalRule::Ask);
        assert_eq!(a.rule("archive", Some("sync")), ApprovalRule::Allow);
        assert_eq!(a.rule("archive", None), ApprovalRule::Deny);
        assert_eq!(a.timeout(), Duration::from_secs(5));
        assert_eq!(ApprovalPolicy::default().rule("x", None), ApprovalRule::Ask);
        assert!(toml::from_str::<Policy>("[approvals.p]\ndefault = \"maybe\"\n").is_err());
    }

    #[test]
    fn caps_requests_above_the_policy_and_keeps_the_rest() {
        let caps = LimitCaps {
            max_memory_mib: 128,
            max_timeout_ms: 1000,
            max_concurrency: 2,
            ..LimitCaps::default()
        };
        let got = caps.apply(&LimitsRequest {
            memory_mib: Some(512),
            timeout_ms: Some(500),
            concurrency: None,
        });
        assert_eq!(got.limits.memory_bytes, 128 << 20);
        assert_eq!(got.limits.timeout, Duration::from_millis(500));
        assert_eq!(got.limits.concurrency, 2);
        assert_eq!(got.capped.len(), 1, "{:?}", got.capped);
    }

    #[test]
    fn binds_roots_to_existing_directories_only() {
        let dir = tempfile::tempdir().unwrap();
        let home_dir = tempfile::tempdir().unwrap();
        let home = Home::open_at(home_dir.path()).unwrap();
        let mut policy = Policy::default();
        policy.bind_root("workspace", dir.path(), &home).unwrap();
        assert!(policy.bind_root("plugin-data", dir.path(), &home).is_err());
        assert!(policy.bind_root("Work Space", dir.path(), &home).is_err());
        assert!(
            policy
                .bind_root("docs", &dir.path().join("missing"), &home)
                .is_err()
        );
    }

    #[test]
    fn refuses_a_root_that_overlaps_the_home_directory() {
        let outer = tempfile::tempdir().unwrap();
        let home = Home::open_at(&outer.path().join("home")).unwrap();
        std::fs::create_dir(home.path().join("data")).unwrap();
        let mut policy = Policy::default();
        for dir in [
            home.path().to_path_buf(),
            home.path().join("data"),
            outer.path().to_path_buf(),
        ] {
            let err = policy.bind_root("workspace", &dir, &home).unwrap_err();
            assert!(
                err.to_string().contains("overlaps Pincer's home directory"),
                "{err}"
            );
        }
        assert!(policy.roots.is_empty());
    }

    #[test]
    fn round_trips_through_the_home_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let workspace = tempfile::tempdir().unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let mut policy = Policy::default();
        policy
            .bind_root("workspace", workspace.path(), &home)
            .unwrap();
        policy.save(&home).unwrap();
        assert_eq!(Policy::load(&home).unwrap(), policy);
    }

    #[test]
    fn reports_unknown_policy_fields_with_their_line() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join(POLICY_FILE),
            "[roots]\nworkspace = \"/tmp\"\n[grants]\n",
        )
        .unwrap();
        let home = Home::open_at(tmp.path()).unwrap();
        let err = Policy::load(&home).unwrap_err().to_string();
        assert!(err.contains("policy.toml:3:"), "{err}");
    }
}
