//! The approval capability: actions a plugin asks a human to approve.
//!
//! This module owns the `[capabilities.approval]` manifest section. The approvers and
//! the host side of `pincer:plugin/approval` are not in this version yet: a component
//! that imports the interface is refused at load time with that reason.

use serde::Deserialize;
use toml::Spanned;

use crate::manifest::Invalid;

/// The `[capabilities.approval]` section: the action names a plugin may ask about. By
/// default (no section) none.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalGrant {
    /// The action names, such as `send-email`.
    pub actions: Vec<Spanned<String>>,
}

impl ApprovalGrant {
    /// Check the section on its own: action names well-formed and unique.
    pub fn validate(&self) -> Result<(), Invalid> {
        crate::caps::names::check_names(&self.actions, "approval action")
    }
}
