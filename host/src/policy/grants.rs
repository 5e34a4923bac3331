//! The canonical granted capability set of a manifest, its digest, and how two sets
//! compare.
//!
//! An admin approves a [`GrantSet`], not a manifest: its digest (SHA-256 of its
//! canonical JSON: fields in a fixed order, lists sorted and deduplicated, defaults
//! written out) is what an installed plugin's approval records. An update whose set is
//! [`wider`](Change::wider) in any item waits for an admin; a narrower or equal one
//! applies at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::caps::filesystem::Access;
use crate::caps::http::{DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_METHODS, OriginPattern};
use crate::digest::sha256_hex;
use crate::manifest::Manifest;
use crate::policy::DEFAULT_LIMITS;

/// Everything a manifest asks for, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantSet {
    /// The plugin kind (the world it exports).
    pub kind: String,
    /// Mounts, sorted by root, subdirectory and guest path.
    pub mounts: Vec<MountGrant>,
    /// Outbound HTTP, if asked for.
    pub http: Option<HttpGrantSet>,
    /// Secret names, sorted.
    pub secrets: Vec<String>,
    /// The key-value quota in bytes, if a store is asked for.
    pub kv_quota_bytes: Option<u64>,
    /// Approval actions, sorted.
    pub approval_actions: Vec<String>,
    /// Config keys, sorted.
    pub config_keys: Vec<String>,
    /// The limits asked for, defaults written out.
    pub limits: LimitsGrant,
}

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MountGrant {
    /// The named root.
    pub root: String,
    /// The subdirectory inside it, if not the whole root.
    pub subdir: Option<String>,
    /// Where the plugin sees it.
    pub guest: String,
    /// Read-only or read-write.
    pub access: Access,
}

impl MountGrant {
    /// `root` or `root/subdir`.
    pub fn source(&self) -> String {
        match &self.subdir {
            Some(s) => format!("{}/{s}", self.root),
            None => self.root.clone(),
        }
    }
}

/// Outbound HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpGrantSet {
    /// Origin patterns, lower case, sorted.
    pub origins: Vec<String>,
    /// Methods, sorted.
    pub methods: Vec<String>,
    /// The response size cap.
    pub max_response_bytes: u64,
    /// Whether it asks to reach internal networks.
    #[serde(default)]
    pub private_networks: bool,
}

/// Limits as asked for, each default written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsGrant {
    /// MiB of linear memory.
    pub memory_mib: u64,
    /// Milliseconds per call.
    pub timeout_ms: u64,
    /// Instances at once.
    pub concurrency: u64,
}

fn sorted(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

impl GrantSet {
    /// The canonical set of what `manifest` asks for.
    pub fn of(manifest: &Manifest) -> Self {
        let caps = &manifest.capabilities;
        let mut mounts: Vec<MountGrant> = caps
            .filesystem
            .iter()
            .flat_map(|f| &f.mounts)
            .map(|m| {
                let m = m.get_ref();
                MountGrant {
                    root: m.root.get_ref().clone(),
                    subdir: m
                        .subdir
                        .as_ref()
                        .map(|s| s.get_ref().trim_end_matches('/').to_owned()),
                    guest: m.guest.get_ref().trim_end_matches('/').to_owned(),
                    access: m.access,
                }
            })
            .collect();
        mounts.sort();
        let http = caps.http.as_ref().map(|h| HttpGrantSet {
            origins: sorted(h.origins.iter().map(|o| {
                OriginPattern::parse(o.get_ref())
                    .map(|p| p.to_string())
                    .unwrap_or_else(|_| o.get_ref().to_ascii_lowercase())
            })),
            private_networks: h.private_networks,
            methods: if h.methods.is_empty() {
                sorted(DEFAULT_METHODS.iter().map(|m| m.to_string()))
            } else {
                sorted(h.methods.iter().map(|m| m.get_ref().clone()))
            },
            max_response_bytes: h.max_response_bytes.unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
        });
        let names = |v: Option<&Vec<toml::Spanned<String>>>| {
            sorted(v.into_iter().flatten().map(|s| s.get_ref().clone()))
        };
        let l = &manifest.limits;
        GrantSet {
            kind: manifest.plugin.kind.as_str().to_owned(),
            mounts,
            http,
            secrets: names(caps.secrets.as_ref().map(|s| &s.names)),
            kv_quota_bytes: caps.kv.as_ref().map(|k| k.quota_bytes),
            approval_actions: names(caps.approval.as_ref().map(|a| &a.actions)),
            config_keys: names(caps.config.as_ref().map(|c| &c.keys)),
            limits: LimitsGrant {
                memory_mib: l
                    .memory_mib
                    .map_or(DEFAULT_LIMITS.memory_bytes >> 20, u64::from),
                timeout_ms: l
                    .timeout_ms
                    .unwrap_or(DEFAULT_LIMITS.timeout.as_millis() as u64),
                concurrency: l
                    .concurrency
                    .map_or(DEFAULT_LIMITS.concurrency.into(), u64::from),
            },
        }
    }

    /// The canonical JSON that the digest covers.
    pub fn canonical_json(&self) -> String {
        serde_json::to_string(self).expect("a grant set serialises")
    }

    /// SHA-256 of the canonical JSON, lower-case hex.
    pub fn digest(&self) -> String {
        sha256_hex(self.canonical_json().as_bytes())
    }

    /// What changes from `old` to `self`, item by item; wider items first.
    pub fn changes_from(&self, old: &GrantSet) -> Vec<Change> {
        let mut out = Vec::new();
        let mut push = |wider: bool, capability: &'static str, change: String| {
            out.push(Change {
                capability,
                change,
                wider,
            })
        };
        if self.kind != old.kind {
            push(
                true,
                "kind",
                format!("kind changes from `{}` to `{}`", old.kind, self.kind),
            );
        }

        // Mounts, by what they expose (root and subdirectory). A root may be mounted
        // at several guest paths: what counts is the widest access to it, and every
        // guest path it appears at.
        type Exposure = (Access, Vec<String>);
        let exposure = |mounts: &[MountGrant]| {
            let mut map: BTreeMap<String, Exposure> = BTreeMap::new();
            for m in mounts {
                let e = map
                    .entry(m.source())
                    .or_insert((Access::ReadOnly, Vec::new()));
                e.0 = e.0.max(m.access);
                e.1.push(m.guest.clone());
            }
            map
        };
        let (old_mounts, new_mounts) = (exposure(&old.mounts), exposure(&self.mounts));
        for (source, (access, guests)) in &new_mounts {
            let guests_text = guests.join(", ");
            match old_mounts.get(source) {
                None => push(
                    true,
                    "filesystem",
                    format!(
                        "new mount: `{source}` at {guests_text} ({})",
                        access.as_str()
                    ),
                ),
                Some((old_access, _)) if access > old_access => push(
                    true,
                    "filesystem",
                    format!("mount `{source}` becomes read-write"),
                ),
                Some((old_access, _)) if access < old_access => push(
                    false,
                    "filesystem",
                    format!("mount `{source}` becomes read-only"),
                ),
                Some((_, old_guests)) if guests != old_guests => push(
                    false,
                    "filesystem",
                    format!(
                        "mount `{source}` moves from {} to {guests_text}",
                        old_guests.join(", ")
                    ),
                ),
                Some(_) => {}
            }
        }
        for source in old_mounts.keys() {
            if !new_mounts.contains_key(source) {
                push(false, "filesystem", format!("mount `{source}` is dropped"));
            }
        }

        // HTTP.
        let no_http = HttpGrantSet {
            origins: Vec::new(),
            methods: Vec::new(),
            max_response_bytes: 0,
            private_networks: false,
        };
        let (oh, nh) = (
            old.http.as_ref().unwrap_or(&no_http),
            self.http.as_ref().unwrap_or(&no_http),
        );
        for origin in &nh.origins {
            if !oh.origins.iter().any(|p| origin_covers(p, origin)) {
                let what = if origin == "*" || origin.contains("://*.") {
                    "new wildcard origin"
                } else {
                    "new origin"
                };
                push(true, "http", format!("{what} {origin}"));
            }
        }
        for origin in &oh.origins {
            if !nh.origins.contains(origin) {
                push(false, "http", format!("origin {origin} is dropped"));
            }
        }
        if nh.private_networks && !oh.private_networks {
            push(true, "http", "asks to reach private networks".into());
        }
        if !nh.origins.is_empty() {
            for method in &nh.methods {
                if !oh.methods.contains(method) {
                    push(true, "http", format!("new method {method}"));
                }
            }
            if nh.max_response_bytes > oh.max_response_bytes && !oh.origins.is_empty() {
                push(
                    true,
                    "http",
                    format!(
                        "response cap rises from {} to {} bytes",
                        oh.max_response_bytes, nh.max_response_bytes
                    ),
                );
            }
        }

        // Named items.
        for (capability, what, old_names, new_names) in [
            ("secrets", "secret", &old.secrets, &self.secrets),
            (
                "approval",
                "approval action",
                &old.approval_actions,
                &self.approval_actions,
            ),
            ("config", "config key", &old.config_keys, &self.config_keys),
        ] {
            for name in new_names.iter().filter(|n| !old_names.contains(n)) {
                push(true, capability, format!("new {what} `{name}`"));
            }
            for name in old_names.iter().filter(|n| !new_names.contains(n)) {
                push(false, capability, format!("{what} `{name}` is dropped"));
            }
        }

        // Key-value quota.
        match (old.kv_quota_bytes, self.kv_quota_bytes) {
            (None, Some(q)) => push(true, "kv", format!("new key-value store of {q} bytes")),
            (Some(o), Some(q)) if q > o => push(
                true,
                "kv",
                format!("key-value quota rises from {o} to {q} bytes"),
            ),
            (Some(o), Some(q)) if q < o => push(
                false,
                "kv",
                format!("key-value quota falls from {o} to {q} bytes"),
            ),
            (Some(_), None) => push(false, "kv", "key-value store is dropped".into()),
            _ => {}
        }

        // Limits.
        for (what, o, n) in [
            ("memory_mib", old.limits.memory_mib, self.limits.memory_mib),
            ("timeout_ms", old.limits.timeout_ms, self.limits.timeout_ms),
            (
                "concurrency",
                old.limits.concurrency,
                self.limits.concurrency,
            ),
        ] {
            if n != o {
                push(n > o, "limits", format!("{what} from {o} to {n}"));
            }
        }
        out.sort_by_key(|c| !c.wider);
        out
    }
}

/// One difference between two grant sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The capability (manifest section) it concerns.
    pub capability: &'static str,
    /// What changes, in words.
    pub change: String,
    /// Whether it grants more than before.
    pub wider: bool,
}

/// Does the origin pattern `pattern` allow everything `origin` (also a pattern) does?
pub fn origin_covers(pattern: &str, origin: &str) -> bool {
    if pattern == "*" || pattern == origin {
        return true;
    }
    if origin == "*" {
        return false;
    }
    let split = |o: &str| -> Option<(String, String)> {
        let (scheme, rest) = o.split_once("://")?;
        Some((scheme.to_owned(), rest.to_owned()))
    };
    let (Some((ps, phost)), Some((os, ohost))) = (split(pattern), split(origin)) else {
        return false;
    };
    if ps != os {
        return false;
    }
    let Some(suffix) = phost.strip_prefix("*.") else {
        return false;
    };
    // `*.example.com` covers `a.example.com`, `a.b.example.com` and
    // `*.b.example.com`, with the same port.
    let ohost = ohost.strip_prefix("*.").unwrap_or(&ohost);
    ohost.len() > suffix.len() + 1 && ohost.ends_with(&format!(".{suffix}"))
}

/// The grant set of a test manifest with `extra` sections.
#[cfg(test)]
pub(crate) fn test_grants(extra: &str) -> GrantSet {
    let text = format!(
        r#"manifest_version = 1
[plugin]
id = "com.example.p"
name = "P"
version = "1.0.0"
kind = "mcp-server"
description = "d"
publisher = "p"
[component]
file = "p.wasm"
{extra}"#
    );
    GrantSet::of(&Manifest::parse(&text, std::path::Path::new("m.toml")).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(extra: &str) -> GrantSet {
        test_grants(extra)
    }

    fn wider(old: &str, new: &str) -> Vec<String> {
        grants(new)
            .changes_from(&grants(old))
            .into_iter()
            .filter(|c| c.wider)
            .map(|c| c.change)
            .collect()
    }

    const WS_RO: &str = "[[capabilities.filesystem.mounts]]\nguest = \"/ws\"\nroot = \"workspace\"\naccess = \"read-only\"\n";
    const WS_RW: &str = "[[capabilities.filesystem.mounts]]\nguest = \"/ws\"\nroot = \"workspace\"\naccess = \"read-write\"\n";

    #[test]
    fn the_digest_ignores_order_and_spelling_of_defaults() {
        let a = grants("[capabilities.secrets]\nnames = [\"b\", \"a\"]\n");
        let b =
            grants("[capabilities.secrets]\nnames = [\"a\", \"b\"]\n[limits]\nmemory_mib = 64\n");
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), grants("").digest());
    }

    #[test]
    fn equal_sets_have_no_changes() {
        assert!(grants(WS_RO).changes_from(&grants(WS_RO)).is_empty());
    }

    #[test]
    fn a_mount_that_becomes_read_write_is_wider() {
        assert_eq!(
            wider(WS_RO, WS_RW),
            ["mount `workspace` becomes read-write"]
        );
        assert!(wider(WS_RW, WS_RO).is_empty());
    }

    #[test]
    fn a_second_read_write_mount_of_an_approved_root_is_wider() {
        // Old: workspace read-only at /a. New: the same root read-write at /a and
        // read-only at /b. Keyed naively, one mount would hide the other.
        let old = "[[capabilities.filesystem.mounts]]\nguest = \"/a\"\nroot = \"workspace\"\naccess = \"read-only\"\n";
        let new = "[[capabilities.filesystem.mounts]]\nguest = \"/a\"\nroot = \"workspace\"\naccess = \"read-write\"\n[[capabilities.filesystem.mounts]]\nguest = \"/b\"\nroot = \"workspace\"\naccess = \"read-only\"\n";
        assert_eq!(wider(old, new), ["mount `workspace` becomes read-write"]);
    }

    #[test]
    fn a_new_capability_is_wider_and_a_dropped_one_is_not() {
        assert_eq!(
            wider("", WS_RO),
            ["new mount: `workspace` at /ws (read-only)"]
        );
        assert!(wider(WS_RO, "").is_empty());
        assert_eq!(
            wider("", "[capabilities.kv]\nquota_bytes = 10\n"),
            ["new key-value store of 10 bytes"]
        );
    }

    #[test]
    fn new_origins_and_wildcards_are_wider_unless_covered() {
        let one = "[capabilities.http]\norigins = [\"https://api.example.com\"]\n";
        let wild = "[capabilities.http]\norigins = [\"https://*.example.com\"]\n";
        let any = "[capabilities.http]\norigins = [\"*\"]\n";
        assert_eq!(
            wider(one, wild),
            ["new wildcard origin https://*.example.com"]
        );
        assert!(wider(wild, one).is_empty());
        assert_eq!(wider(wild, any), ["new wildcard origin *"]);
        assert!(wider(any, wild).is_empty());
        let post = "[capabilities.http]\norigins = [\"https://api.example.com\"]\nmethods = [\"GET\", \"POST\"]\n";
        assert_eq!(wider(one, post), ["new method POST"]);
    }

    #[test]
    fn new_secrets_and_higher_limits_are_wider() {
        assert_eq!(
            wider("", "[capabilities.secrets]\nnames = [\"token\"]\n"),
            ["new secret `token`"]
        );
        assert_eq!(
            wider("", "[limits]\nmemory_mib = 128\n"),
            ["memory_mib from 64 to 128"]
        );
        assert!(wider("", "[limits]\ntimeout_ms = 500\n").is_empty());
    }

    #[test]
    fn wildcard_origins_cover_subdomains_only() {
        assert!(origin_covers(
            "https://*.example.com",
            "https://a.b.example.com"
        ));
        assert!(origin_covers(
            "https://*.example.com",
            "https://*.b.example.com"
        ));
        assert!(!origin_covers(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(!origin_covers(
            "https://*.example.com",
            "http://a.example.com"
        ));
        assert!(!origin_covers(
            "https://*.example.com",
            "https://evilexample.com"
        ));
        assert!(!origin_covers("https://a.example.com", "*"));
    }
}
