//! The risk of each grant, in plain words, for `pincer review` and the install prompt.
//!
//! The rules (documented in `docs/admin-guide.md`, which a test keeps in step):
//!
//! | grant | risk |
//! |---|---|
//! | `plugin-data` or `temp` mount | low: the plugin's own directories |
//! | `recordings` mount | medium: every recording, of every recorder |
//! | an admin root mounted `read-only` | medium: reads the admin's files |
//! | an admin root mounted `read-write` | high: can change or delete the admin's files |
//! | an `https` origin | medium: can send what it reads there |
//! | a plain `http` origin | high: traffic readable and changeable on the way |
//! | a wildcard origin (`*` or `*.domain`) | high: hosts nobody listed |
//! | methods that write (`POST`, `PUT`, `PATCH`, `DELETE`) | medium |
//! | private networks (`private_networks = true`) | high: the local network, this host's services, cloud metadata |
//! | a secret | medium: a credential, usable against its service |
//! | a key-value store up to 100 MiB, approvals, config keys | low |
//! | a key-value quota above 100 MiB | medium: can fill the disk |
//! | a response cap above 10 MiB (the default) | medium: large downloads into memory |
//! | limits above 256 MiB, 60 s or 16 instances | medium: can hog the machine |

use serde::Serialize;

use super::grants::GrantSet;
use crate::caps::filesystem::Access;

/// The largest key-value quota rated low.
const KV_QUOTA_LOW: u64 = 100 << 20;

/// How much an admin should look at a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Confined to the plugin's own state.
    Low,
    /// Reaches the admin's data or the network in a bounded way.
    Medium,
    /// Broad or hard-to-bound reach.
    High,
}

impl Risk {
    /// The word shown to admins.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

/// One requested grant, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The manifest section.
    pub capability: &'static str,
    /// The grant as the manifest spells it.
    pub grant: String,
    /// What it lets the plugin do, in plain words.
    pub meaning: String,
    /// Its risk.
    pub risk: Risk,
}

/// Explain every grant in `grants`, in manifest order.
pub fn assess(grants: &GrantSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |capability: &'static str, grant: String, meaning: String, risk: Risk| {
        out.push(Finding {
            capability,
            grant,
            meaning,
            risk,
        })
    };
    for m in &grants.mounts {
        let rw = m.access == Access::ReadWrite;
        let (meaning, risk) = match m.root.as_str() {
            "plugin-data" => ("its own data directory".to_owned(), Risk::Low),
            "temp" => (
                "its own scratch directory, emptied at load".to_owned(),
                Risk::Low,
            ),
            "recordings" if rw => (
                "creates, changes and deletes recordings (all of them)".to_owned(),
                Risk::Medium,
            ),
            "recordings" => ("reads every recording".to_owned(), Risk::Medium),
            root if rw => (
                format!("reads, changes and deletes files in the admin's `{root}` directory"),
                Risk::High,
            ),
            root => (
                format!("reads files in the admin's `{root}` directory"),
                Risk::Medium,
            ),
        };
        add(
            "filesystem",
            format!("{} at {} ({})", m.source(), m.guest, m.access.as_str()),
            meaning,
            risk,
        );
    }
    if let Some(http) = &grants.http {
        for origin in &http.origins {
            let meaning = if origin == "*" {
                "any host on the internet or your network".to_owned()
            } else if let Some((_, domain)) = origin.split_once("://*.") {
                format!("every subdomain of {domain}")
            } else if origin.starts_with("http://") {
                format!("{origin} without TLS: traffic can be read and changed on the way")
            } else {
                format!("sends requests to {origin} and reads the answers")
            };
            let wildcard = origin == "*" || origin.contains("://*.");
            let risk = if wildcard || origin.starts_with("http://") {
                Risk::High
            } else {
                Risk::Medium
            };
            add("http", format!("origin {origin}"), meaning, risk);
        }
        if http.max_response_bytes > crate::caps::http::DEFAULT_MAX_RESPONSE_BYTES {
            add(
                "http",
                format!("response cap {} bytes", http.max_response_bytes),
                format!(
                    "reads answers of up to {} MiB each into memory",
                    http.max_response_bytes >> 20
                ),
                Risk::Medium,
            );
        }
        if http.private_networks {
            add(
                "http",
                "private networks".to_owned(),
                "asks to reach loopback, private and link-local addresses (this host's services, the local network, cloud metadata); only if the admin also allows it".to_owned(),
                Risk::High,
            );
        }
        let writes: Vec<&str> = http
            .methods
            .iter()
            .map(String::as_str)
            .filter(|m| matches!(*m, "POST" | "PUT" | "PATCH" | "DELETE"))
            .collect();
        let risk = if writes.is_empty() {
            Risk::Low
        } else {
            Risk::Medium
        };
        add(
            "http",
            format!("methods {}", http.methods.join(", ")),
            if writes.is_empty() {
                "only reads (no request changes anything on the server)".to_owned()
            } else {
                format!("can change data on those hosts ({})", writes.join(", "))
            },
            risk,
        );
    }
    for name in &grants.secrets {
        add(
            "secrets",
            format!("secret `{name}`"),
            format!("reads the secret `{name}` that an admin sets (a credential)"),
            Risk::Medium,
        );
    }
    if let Some(q) = grants.kv_quota_bytes {
        let (meaning, risk) = if q > KV_QUOTA_LOW {
            (
                format!(
                    "keeps its own key-value data, up to {} MiB of your disk",
                    q >> 20
                ),
                Risk::Medium,
            )
        } else {
            ("keeps its own key-value data".to_owned(), Risk::Low)
        };
        add("kv", format!("quota {q} bytes"), meaning, risk);
    }
    for action in &grants.approval_actions {
        add(
            "approval",
            format!("action `{action}`"),
            format!("asks a person to approve `{action}` before doing it"),
            Risk::Low,
        );
    }
    for key in &grants.config_keys {
        add(
            "config",
            format!("key `{key}`"),
            format!("reads the setting `{key}` that an admin sets"),
            Risk::Low,
        );
    }
    let l = grants.limits;
    let big = l.memory_mib > 256 || l.timeout_ms > 60_000 || l.concurrency > 16;
    add(
        "limits",
        format!(
            "{} MiB, {} ms, {} at once",
            l.memory_mib, l.timeout_ms, l.concurrency
        ),
        if big {
            "large limits: can use much memory or CPU time".to_owned()
        } else {
            "memory, time per call and instances at once (capped by policy)".to_owned()
        },
        if big { Risk::Medium } else { Risk::Low },
    );
    out
}

/// The highest risk among `findings`.
pub fn overall(findings: &[Finding]) -> Risk {
    findings.iter().map(|f| f.risk).max().unwrap_or(Risk::Low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(extra: &str) -> Vec<Finding> {
        assess(&crate::policy::grants::test_grants(extra))
    }

    fn risk_of(extra: &str, grant: &str) -> Risk {
        findings(extra)
            .into_iter()
            .find(|f| f.grant.starts_with(grant))
            .unwrap_or_else(|| panic!("no finding {grant}"))
            .risk
    }

    #[test]
    fn a_read_write_workspace_mount_is_high_and_read_only_medium() {
        let m = |a: &str| {
            format!(
                "[[capabilities.filesystem.mounts]]\nguest = \"/ws\"\nroot = \"workspace\"\naccess = \"{a}\"\n"
            )
        };
        assert_eq!(risk_of(&m("read-write"), "workspace"), Risk::High);
        assert_eq!(risk_of(&m("read-only"), "workspace"), Risk::Medium);
    }

    #[test]
    fn wildcard_and_plain_http_origins_are_high() {
        let h = |o: &str| format!("[capabilities.http]\norigins = [\"{o}\"]\n");
        assert_eq!(risk_of(&h("*"), "origin"), Risk::High);
        assert_eq!(risk_of(&h("https://*.example.com"), "origin"), Risk::High);
        assert_eq!(risk_of(&h("http://example.com"), "origin"), Risk::High);
        assert_eq!(
            risk_of(&h("https://api.example.com"), "origin"),
            Risk::Medium
        );
    }

    #[test]
    fn the_admin_guide_lists_these_rules() {
        let guide = include_str!("../../../docs/admin-guide.md");
        let rules: Vec<&str> = include_str!("risk.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! | "))
            .collect();
        assert!(rules.len() > 5);
        for rule in rules {
            assert!(
                guide.contains(&format!("| {rule}")),
                "docs/admin-guide.md lacks: | {rule}"
            );
        }
    }

    #[test]
    fn large_kv_quotas_and_response_caps_are_medium() {
        let kv = |q: u64| risk_of(&format!("[capabilities.kv]\nquota_bytes = {q}\n"), "quota");
        assert_eq!(kv(100 << 20), Risk::Low);
        assert_eq!(kv((100 << 20) + 1), Risk::Medium);
        let http = "[capabilities.http]\norigins = [\"https://api.example.com\"]\n";
        assert!(
            !findings(http)
                .iter()
                .any(|f| f.grant.starts_with("response cap")),
            "the default cap is not pointed out"
        );
        assert_eq!(
            risk_of(
                &format!("{http}max_response_bytes = {}\n", 64 << 20),
                "response cap"
            ),
            Risk::Medium
        );
    }

    #[test]
    fn a_plugin_with_no_grants_is_low() {
        assert_eq!(overall(&findings("")), Risk::Low);
    }
}
