//! The admin's approval rules for one plugin (`[approvals."ID"]` in `policy.toml`):
//! which requests are allowed, denied or asked, and how long a person is waited for.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
