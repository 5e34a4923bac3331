//! The admin's policy, `$PINCER_HOME/policy.toml`: which directories the named roots
//! stand for, and the caps on every plugin's limits; and what an approval covers:
//! canonical grant sets and how they compare ([`grants`]), and the risk of each grant
//! ([`risk`]).
//!
//! A manifest asks; the policy decides. This module reads, checks and writes the policy
//! file, and computes a plugin's effective limits. By default no root is bound and the
//! caps are [`LimitCaps::default`].

pub mod grants;
pub mod pins;
pub mod poison;
pub mod risk;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::caps::filesystem::{BUILTIN_ROOTS, is_root_name};
use crate::manifest::{LimitsRequest, ManifestError};
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

/// How one plugin's approval requests are answered. The most specific rule wins: the
/// action's, then the tool's being called, then `default`. With no policy at all every
/// request is asked (`ask`), with a 60-second timeout.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// The rule when no action or tool rule applies. Default `ask`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ApprovalRule>,
    /// Seconds to wait for a person's answer before denying. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Rules by action name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<String, ApprovalRule>,
    /// Rules by the tool being called.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tools: BTreeMap<String, ApprovalRule>,
}

/// What happens to an approval request.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalRule {
    /// Approved without asking.
    Allow,
    /// Rejected without asking.
    Deny,
    /// A person decides; no answer in time means rejected.
    Ask,
}

impl ApprovalPolicy {
    /// The rule for `action`, requested while `tool` runs.
    pub fn rule(&self, action: &str, tool: Option<&str>) -> ApprovalRule {
        self.actions
            .get(action)
            .or_else(|| tool.and_then(|t| self.tools.get(t)))
            .or(self.default.as_ref())
            .copied()
            .unwrap_or(ApprovalRule::Ask)
    }

    /// How long to wait for a person.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.unwrap_or(60))
    }
}

/// The largest limits any plugin gets, whatever its manifest asks.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitCaps {
    /// Linear memory per instance, in MiB. Default 1024.
    pub max_memory_mib: u32,
    /// Wall time per call, in milliseconds. Default 300000 (5 minutes).
    pub max_timeout_ms: u64,
    /// Instances of one plugin at once. Default 64.
    pub max_concurrency: u32,
    /// The largest HTTP answer a plugin reads, in bytes (its `max_response_bytes`).
    /// Default 256 MiB.
    pub max_response_bytes: u64,
    /// The largest key-value store of one plugin, in bytes (its `quota_bytes`).
    /// Default 1 GiB.
    pub max_kv_quota_bytes: u64,
}

impl Default for LimitCaps {
    fn default() -> Self {
        LimitCaps {
            max_memory_mib: 1024,
            max_timeout_ms: 300_000,
            max_concurrency: 64,
            max_response_bytes: 256 << 20,
            max_kv_quota_bytes: 1 << 30,
        }
    }
}

impl LimitCaps {
    /// `asked` of the capability setting `what`, cut to `max`; the line for the load
    /// report when it was cut.
    pub fn cap_bytes(what: &str, asked: u64, max: u64) -> (u64, Option<String>) {
        if asked > max {
            (
                max,
                Some(format!(
                    "{what} {asked} is above the policy's cap, using {max}"
                )),
            )
        } else {
            (asked, None)
        }
    }
}

/// What a plugin gets when its manifest does not say: 64 MiB, 10 s, 4 at once.
pub const DEFAULT_LIMITS: Limits = Limits {
    memory_bytes: 64 << 20,
    timeout: Duration::from_secs(10),
    concurrency: 4,
};

/// A plugin's effective limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: u64,
    /// Wall time per call.
    #[serde(serialize_with = "millis")]
    pub timeout: Duration,
    /// Instances at once.
    pub concurrency: u32,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// The effective limits and the requests that the caps cut down, for the load report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CappedLimits {
    /// What the plugin gets.
    pub limits: Limits,
    /// One line per request that was above its cap.
    pub capped: Vec<String>,
}

impl LimitCaps {
    /// The limits a plugin gets: what it asks for (or the default), cut to the caps.
    pub fn apply(&self, asked: &LimitsRequest) -> CappedLimits {
        let mut capped = Vec::new();
        let mut cap = |what: &str, asked: Option<u64>, default: u64, max: u64| -> u64 {
            match asked {
                Some(want) if want > max => {
                    capped.push(format!(
                        "{what} {want} is above the policy's cap, using {max}"
                    ));
                    max
                }
                Some(want) => want,
                None => default.min(max),
            }
        };
        let memory_mib = cap(
            "memory_mib",
            asked.memory_mib.map(u64::from),
            DEFAULT_LIMITS.memory_bytes >> 20,
            self.max_memory_mib.into(),
        );
        let timeout_ms = cap(
            "timeout_ms",
            asked.timeout_ms,
            DEFAULT_LIMITS.timeout.as_millis() as u64,
            self.max_timeout_ms,
        );
        let concurrency = cap(
            "concurrency",
            asked.concurrency.map(u64::from),
            DEFAULT_LIMITS.concurrency.into(),
            self.max_concurrency.into(),
        );
        CappedLimits {
            limits: Limits {
                memory_bytes: memory_mib << 20,
                timeout: Duration::from_millis(timeout_ms),
                concurrency: concurrency as u32,
            },
            capped,
        }
    }
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
    use super::*;

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
