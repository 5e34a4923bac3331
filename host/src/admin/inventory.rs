//! What every installed plugin may do, read from the install records and the admin's
//! policy only (no plugin is loaded or run): the egress inventory behind
//! `pincer egress` ([`egress`]) and the summaries behind `pincer review --all`
//! ([`summarise`]). The command line prints them; their JSON fields are documented in
//! `docs/admin-guide.md`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::caps::filesystem::BUILTIN_ROOTS;
use crate::policy::Policy;
use crate::policy::grants::{Change, GrantSet};
use crate::policy::risk::{self, Risk};
use crate::store::Home;
use crate::store::plugins::{Installed, PluginStore, Slot, StoreError};
use crate::tools::ToolInfo;
use crate::tools::poison;

/// One origin that one installed plugin may reach: a row of `pincer egress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressRow {
    /// The plugin id.
    pub plugin: String,
    /// The version whose manifest names the origin.
    pub version: String,
    /// `active` (it runs now) or `pending` (an update that waits for `pincer approve`).
    pub status: &'static str,
    /// The origin pattern as granted, in canonical form: lower case, default port
    /// dropped, wildcards kept (`*`, `https://*.example.com:8443`).
    pub origin: String,
    /// The methods it may use there, sorted.
    pub methods: Vec<String>,
    /// The largest response body it may read, in bytes.
    pub max_response_bytes: u64,
    /// Whether it may reach internal addresses through this origin.
    pub private_networks: PrivateNetworks,
}

/// Both sides of the private-network decision: a plugin reaches loopback, private and
/// link-local addresses only if its manifest asks and the admin's policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrivateNetworks {
    /// The signed manifest says `private_networks = true`.
    pub manifest_asks: bool,
    /// `policy.toml` says `[http."ID"] allow_private_networks = true`.
    pub policy_allows: bool,
    /// Both: internal addresses are reachable.
    pub allowed: bool,
}

impl PrivateNetworks {
    fn of(grants: &GrantSet, policy: &Policy, id: &str) -> Self {
        let manifest_asks = grants.http.as_ref().is_some_and(|h| h.private_networks);
        let policy_allows = policy
            .http
            .get(id)
            .is_some_and(|p| p.allow_private_networks);
        PrivateNetworks {
            manifest_asks,
            policy_allows,
            allowed: manifest_asks && policy_allows,
        }
    }

    /// The word in the PRIVATE column: `yes`, `asked` (refused by the policy) or `no`.
    pub fn word(self) -> &'static str {
        match (self.manifest_asks, self.allowed) {
            (_, true) => "yes",
            (true, false) => "asked",
            (false, _) => "no",
        }
    }
}

/// The active and pending slots of `p`, with their status word.
fn slots(p: &Installed) -> impl Iterator<Item = (&'static str, &Slot)> {
    std::iter::once(("active", &p.active)).chain(p.pending.as_ref().map(|s| ("pending", s)))
}

/// Every origin that any installed plugin may reach, now or after its pending update is
/// approved: sorted by plugin, then origin, then active before pending.
pub fn egress(plugins: &[Installed], policy: &Policy) -> Vec<EgressRow> {
    let mut rows = Vec::new();
    for p in plugins {
        for (status, slot) in slots(p) {
            let Some(http) = &slot.grants.http else {
                continue;
            };
            let private_networks = PrivateNetworks::of(&slot.grants, policy, &p.id);
            for origin in &http.origins {
                rows.push(EgressRow {
                    plugin: p.id.clone(),
                    version: slot.version.clone(),
                    status,
                    origin: origin.clone(),
                    methods: http.methods.clone(),
                    max_response_bytes: http.max_response_bytes,
                    private_networks,
                });
            }
        }
    }
    rows.sort_by(|a, b| {
        (&a.plugin, &a.origin, a.status != "active").cmp(&(
            &b.plugin,
            &b.origin,
            b.status != "active",
        ))
    });
    rows
}

/// Every installed plugin, sorted by id.
pub fn installed(home: &Home) -> Result<Vec<Installed>, StoreError> {
    let mut plugins = PluginStore::new(home).list()?;
    plugins.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(plugins)
}

/// One installed plugin, summarised: an entry of `pincer review --all --json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The plugin id.
    pub id: String,
    /// The active version.
    pub version: String,
    /// Its kind.
    pub kind: String,
    /// The highest risk of its active grants (as `pincer list` shows).
    pub risk: Risk,
    /// The highest risk of what is in effect: `risk`, and the poisoning findings of its
    /// pinned tools. (A pending update is not in effect; it shows its own risk.)
    pub highest_risk: Risk,
    /// The signing key's name in the trust store.
    pub signer: String,
    /// The active grants, canonical.
    pub grants: GrantSet,
    /// Each active grant explained, with its risk (as in `pincer review --json`).
    pub capabilities: Vec<risk::Finding>,
    /// The host directory of each admin-bound root it mounts, `null` if unbound.
    pub roots: BTreeMap<String, Option<std::path::PathBuf>>,
    /// Both sides of the private-network decision.
    pub private_networks: PrivateNetworks,
    /// When and by whom its grants were approved.
    pub approved: Option<Approved>,
    /// For an `mcp-server` plugin: its pinned tools and their poisoning review.
    pub tools: Option<ToolsSummary>,
    /// An update that waits for `pincer approve`.
    pub pending: Option<PendingSummary>,
}

/// When and by whom a plugin's grants were approved.
#[derive(Debug, Serialize)]
pub struct Approved {
    /// When.
    pub at: String,
    /// By whom.
    pub by: String,
}

/// An `mcp-server` plugin's pinned tools and their poisoning review.
#[derive(Debug, Serialize)]
pub struct ToolsSummary {
    /// The names of the tools the approval pins; `null` if it pins none.
    pub pinned: Option<Vec<String>>,
    /// The poisoning review of the pinned definitions.
    pub poisoning: Vec<poison::Finding>,
    /// The highest risk among `poisoning`, `null` if none.
    pub risk: Option<Risk>,
}

/// An update that waits for `pincer approve`.
#[derive(Debug, Serialize)]
pub struct PendingSummary {
    /// Its version.
    pub version: String,
    /// The highest risk of its grants.
    pub risk: Risk,
    /// Whether it asks for more than the active version was approved for.
    pub wider: bool,
    /// How its grants differ from the active version's.
    pub changes: Vec<Change>,
}

/// `p` summarised, with the admin's `policy`: an entry of `pincer review --all`.
pub fn summarise(p: &Installed, policy: &Policy) -> Summary {
    let a = &p.active;
    let findings = risk::assess(&a.grants);
    let roots = a
        .grants
        .mounts
        .iter()
        .filter(|m| !BUILTIN_ROOTS.contains(&m.root.as_str()))
        .map(|m| (m.root.clone(), policy.roots.get(&m.root).cloned()))
        .collect();
    let tools = (a.grants.kind == "mcp-server").then(|| {
        let pins = a.approval.as_ref().and_then(|ap| ap.tools.as_ref());
        let defs: Vec<ToolInfo> = pins
            .into_iter()
            .flat_map(|pins| pins.values().map(|pin| pin.tool.clone()))
            .collect();
        let poisoning = poison::scan(&defs);
        ToolsSummary {
            pinned: pins.map(|pins| pins.keys().cloned().collect()),
            risk: poisoning.iter().map(|f| f.risk).max(),
            poisoning,
        }
    });
    let pending = p.pending.as_ref().map(|s| {
        let changes = s.grants.changes_from(&a.grants);
        PendingSummary {
            version: s.version.clone(),
            risk: risk::overall(&risk::assess(&s.grants)),
            wider: changes.iter().any(|c| c.wider),
            changes,
        }
    });
    let grants_risk = risk::overall(&findings);
    Summary {
        id: p.id.clone(),
        version: a.version.clone(),
        kind: a.grants.kind.clone(),
        risk: grants_risk,
        highest_risk: grants_risk.max(tools.as_ref().and_then(|t| t.risk).unwrap_or(Risk::Low)),
        signer: a.signer.clone(),
        grants: a.grants.clone(),
        capabilities: findings,
        roots,
        private_networks: PrivateNetworks::of(&a.grants, policy, &p.id),
        approved: a.approval.as_ref().map(|ap| Approved {
            at: ap.at.clone(),
            by: ap.by.clone(),
        }),
        tools,
        pending,
    }
}
