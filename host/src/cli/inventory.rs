//! `pincer egress` and `pincer review --all`: what every installed plugin may do, read
//! from the install records and the admin's policy only. No plugin is loaded or run.
//!
//! `egress` lists each origin that an installed plugin's HTTP grant names, for an IT
//! team's firewall allowlist; `review --all` summarises every plugin's grants, tools and
//! risk on one screen. Both print JSON with `--json`, whose fields `docs/admin-guide.md`
//! documents; `tests/all/egress.rs` keeps a snapshot of `egress --json`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::commands::{Failure, print_json};
use crate::caps::filesystem::BUILTIN_ROOTS;
use crate::kinds::mcp::ToolInfo;
use crate::policy::grants::{Change, GrantSet};
use crate::policy::risk::{self, Risk};
use crate::policy::{Policy, poison};
use crate::runtime::Runtime;
use crate::store::Home;
use crate::store::plugins::{Installed, PluginStore, Slot};

const WIDTH: usize = 80;

const NOTHING_INSTALLED: &str = "no plugins installed; install one with `pincer install BUNDLE`";

/// One origin that one installed plugin may reach: a row of `pincer egress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct EgressRow {
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
pub(crate) struct PrivateNetworks {
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
    fn word(self) -> &'static str {
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
pub(crate) fn egress(plugins: &[Installed], policy: &Policy) -> Vec<EgressRow> {
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

fn installed(home: &Home) -> Result<Vec<Installed>, Failure> {
    let mut plugins = PluginStore::new(home).list()?;
    plugins.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(plugins)
}

pub(super) fn cmd_egress(home: &Home, json: bool) -> Result<(), Failure> {
    let plugins = installed(home)?;
    let rows = egress(&plugins, &Policy::load(home)?);
    if json {
        print_json(&serde_json::to_value(&rows).expect("egress rows serialise"));
        return Ok(());
    }
    if plugins.is_empty() {
        println!("{NOTHING_INSTALLED}");
        return Ok(());
    }
    if rows.is_empty() {
        println!(
            "no installed plugin may reach the network: none of the {} has an http grant",
            plugins.len()
        );
        return Ok(());
    }
    // Grouped by plugin version, so that each row fits 80 columns beside the origin.
    let w0 = rows
        .iter()
        .map(|r| r.origin.chars().count())
        .max()
        .unwrap_or(0);
    let w1 = rows
        .iter()
        .map(|r| r.methods.join(",").len())
        .max()
        .unwrap_or(0);
    let (w0, w1) = (w0.max("ORIGIN".len()), w1.max("METHODS".len()));
    println!("  {:<w0$}  {:<w1$}  PRIVATE", "ORIGIN", "METHODS");
    let mut groups: BTreeMap<(&str, bool), Vec<&EgressRow>> = BTreeMap::new();
    for r in &rows {
        groups
            .entry((r.plugin.as_str(), r.status == "pending"))
            .or_default()
            .push(r);
    }
    for ((plugin, pending), group) in groups {
        let status = if pending { ", pending approval" } else { "" };
        println!("{plugin} {}{status}", group[0].version);
        for r in group {
            println!(
                "  {:<w0$}  {:<w1$}  {}",
                r.origin,
                r.methods.join(","),
                r.private_networks.word()
            );
        }
    }
    println!();
    let reaching: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.plugin.as_str()).collect();
    wrap(
        "",
        &format!(
            "{} of {} installed plugins may reach the network, each only at the origins listed; the others reach none.",
            reaching.len(),
            plugins.len()
        ),
    );
    if rows.iter().any(|r| r.private_networks.manifest_asks) {
        wrap(
            "",
            "PRIVATE: yes = may also reach loopback and private addresses (the manifest asks and policy.toml allows); asked = the manifest asks, the policy refuses; no = public addresses only.",
        );
    }
    if rows.iter().any(|r| r.status == "pending") {
        wrap(
            "",
            "pending approval: an update's origins, reached only once `pincer approve ID` approves it; until then the active version runs, with its own.",
        );
    }
    let any: Vec<&str> = rows
        .iter()
        .filter(|r| r.origin == "*")
        .map(|r| r.plugin.as_str())
        .collect();
    if !any.is_empty() {
        wrap(
            "",
            &format!(
                "`*` is any host ({}): an allowlist cannot name it; narrow the plugin's origins, or let its traffic through a proxy that filters by name.",
                any.join(", ")
            ),
        );
    }
    if rows.iter().any(|r| r.origin.contains("://*.")) {
        wrap(
            "",
            "`*.domain` is every subdomain of the domain (not the domain itself): allow it as a name suffix.",
        );
    }
    Ok(())
}

/// Print `text` wrapped to 80 columns, every line after `indent`.
fn wrap(indent: &str, text: &str) {
    wrap_after(indent, indent, text);
}

/// Print `text` wrapped to 80 columns: the first line after `first`, the others after
/// as many spaces.
fn wrap_after(first: &str, indent: &str, text: &str) {
    let subsequent = " ".repeat(indent.chars().count());
    let opts = textwrap::Options::new(WIDTH)
        .initial_indent(first)
        .subsequent_indent(&subsequent);
    for line in textwrap::wrap(text, opts) {
        println!("{line}");
    }
}

/// One installed plugin, summarised: an entry of `pincer review --all --json`.
#[derive(Debug, Serialize)]
struct Summary {
    id: String,
    version: String,
    kind: String,
    /// The highest risk of its active grants (as `pincer list` shows).
    risk: Risk,
    /// The highest risk of what is in effect: `risk`, and the poisoning findings of its
    /// pinned tools. (A pending update is not in effect; it shows its own risk.)
    highest_risk: Risk,
    /// The signing key's name in the trust store.
    signer: String,
    /// The active grants, canonical.
    grants: GrantSet,
    /// Each active grant explained, with its risk (as in `pincer review --json`).
    capabilities: Vec<risk::Finding>,
    /// The host directory of each admin-bound root it mounts, `null` if unbound.
    roots: BTreeMap<String, Option<std::path::PathBuf>>,
    /// Both sides of the private-network decision.
    private_networks: PrivateNetworks,
    /// When and by whom its grants were approved.
    approved: Option<Approved>,
    /// For an `mcp-server` plugin: its pinned tools and their poisoning review.
    tools: Option<ToolsSummary>,
    /// An update that waits for `pincer approve`.
    pending: Option<PendingSummary>,
}

#[derive(Debug, Serialize)]
struct Approved {
    at: String,
    by: String,
}

#[derive(Debug, Serialize)]
struct ToolsSummary {
    /// The names of the tools the approval pins; `null` if it pins none.
    pinned: Option<Vec<String>>,
    /// The poisoning review of the pinned definitions.
    poisoning: Vec<poison::Finding>,
    /// The highest risk among `poisoning`, `null` if none.
    risk: Option<Risk>,
}

#[derive(Debug, Serialize)]
struct PendingSummary {
    version: String,
    /// The highest risk of its grants.
    risk: Risk,
    /// Whether it asks for more than the active version was approved for.
    wider: bool,
    changes: Vec<Change>,
}

fn summarise(p: &Installed, policy: &Policy) -> Summary {
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

pub(super) fn cmd_review_all(runtime: &Runtime, json: bool) -> Result<(), Failure> {
    let plugins = installed(runtime.home())?;
    let summaries: Vec<Summary> = plugins
        .iter()
        .map(|p| summarise(p, runtime.policy()))
        .collect();
    let top = summaries.iter().map(|s| s.highest_risk).max();
    let at_top: Vec<&str> = summaries
        .iter()
        .filter(|s| Some(s.highest_risk) == top)
        .map(|s| s.id.as_str())
        .collect();
    if json {
        print_json(&serde_json::json!({
            "plugins": summaries,
            "highest_risk": top,
            "highest_risk_plugins": at_top,
        }));
        return Ok(());
    }
    if summaries.is_empty() {
        println!("{NOTHING_INSTALLED}");
        return Ok(());
    }
    for s in &summaries {
        print_summary(s);
        println!();
    }
    let pending = summaries.iter().filter(|s| s.pending.is_some()).count();
    let findings: usize = summaries
        .iter()
        .filter_map(|s| s.tools.as_ref())
        .map(|t| t.poisoning.len())
        .sum();
    wrap(
        "",
        &format!(
            "{} installed, {pending} with an update pending, {} in pinned tools.",
            count(summaries.len(), "plugin", "plugins"),
            count(findings, "poisoning finding", "poisoning findings")
        ),
    );
    if let Some(top) = top {
        wrap(
            "",
            &format!("highest risk: {} ({})", top.as_str(), at_top.join(", ")),
        );
    }
    Ok(())
}

/// `n` and the noun that goes with it.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The risk column, then the label, then `text` wrapped after them.
fn row(risk: Option<Risk>, label: &str, text: &str) {
    let first = format!("  {:<6}  {label:<10}  ", risk.map_or("", Risk::as_str));
    wrap_after(&first, &first, text);
}

fn print_summary(s: &Summary) {
    println!(
        "{} {} ({}), risk {}",
        s.id,
        s.version,
        s.kind,
        s.highest_risk.as_str()
    );
    let g = &s.grants;
    let risk_of = |capability: &str| {
        s.capabilities
            .iter()
            .filter(|f| f.capability == capability)
            .map(|f| f.risk)
            .max()
    };
    if !g.mounts.is_empty() {
        let mounts: Vec<String> = g
            .mounts
            .iter()
            .map(|m| {
                let bound = match s.roots.get(&m.root) {
                    Some(Some(dir)) => format!(", {} is {}", m.root, dir.display()),
                    Some(None) => format!(", {} not bound", m.root),
                    None => String::new(),
                };
                format!(
                    "{} at {} ({}{bound})",
                    m.source(),
                    m.guest,
                    m.access.as_str()
                )
            })
            .collect();
        row(risk_of("filesystem"), "filesystem", &mounts.join("; "));
    }
    if let Some(http) = &g.http {
        let private = match s.private_networks.word() {
            "yes" => "; private networks allowed",
            "asked" => "; private networks asked, refused by policy",
            _ => "",
        };
        row(
            risk_of("http"),
            "http",
            &format!(
                "{} ({}){private}",
                http.origins.join(", "),
                http.methods.join(", ")
            ),
        );
    }
    if !g.secrets.is_empty() {
        row(risk_of("secrets"), "secrets", &g.secrets.join(", "));
    }
    if !g.config_keys.is_empty() {
        row(risk_of("config"), "config", &g.config_keys.join(", "));
    }
    if let Some(q) = g.kv_quota_bytes {
        row(risk_of("kv"), "kv", &format!("{q} bytes"));
    }
    if !g.approval_actions.is_empty() {
        row(
            risk_of("approval"),
            "approval",
            &format!("asks before {}", g.approval_actions.join(", ")),
        );
    }
    let limits = risk_of("limits");
    if limits > Some(Risk::Low) {
        let l = g.limits;
        row(
            limits,
            "limits",
            &format!(
                "{} MiB, {} ms, {} at once",
                l.memory_mib, l.timeout_ms, l.concurrency
            ),
        );
    }
    let nothing = g.mounts.is_empty()
        && g.http.is_none()
        && g.secrets.is_empty()
        && g.config_keys.is_empty()
        && g.kv_quota_bytes.is_none()
        && g.approval_actions.is_empty();
    if nothing {
        row(
            Some(Risk::Low),
            "grants",
            "none: no files, network, secrets or settings",
        );
    }
    if let Some(t) = &s.tools {
        let text = match (&t.pinned, t.poisoning.as_slice()) {
            (None, _) => format!(
                "none pinned: unapproved tools are withheld; see `pincer review {} --tools`",
                s.id
            ),
            (Some(names), []) => format!("{} pinned, no poisoning findings", names.len()),
            (Some(names), findings) => {
                let mut tools: Vec<&str> = findings.iter().map(|f| f.tool.as_str()).collect();
                tools.sort_unstable();
                tools.dedup();
                format!(
                    "{} pinned, {} in {}; see `pincer review {} --tools`",
                    names.len(),
                    count(findings.len(), "poisoning finding", "poisoning findings"),
                    tools.join(", "),
                    s.id
                )
            }
        };
        row(t.risk, "tools", &text);
    }
    match &s.approved {
        Some(a) => row(None, "approved", &format!("{} by {}", a.at, a.by)),
        None => row(None, "approved", "no approval recorded"),
    }
    if let Some(p) = &s.pending {
        let wider: Vec<&str> = p
            .changes
            .iter()
            .filter(|c| c.wider)
            .map(|c| c.change.as_str())
            .collect();
        let text = if wider.is_empty() {
            format!(
                "{} waits for `pincer approve {}`, within the approved grants",
                p.version, s.id
            )
        } else {
            format!(
                "{} waits for `pincer approve {}`; wider: {}",
                p.version,
                s.id,
                wider.join("; ")
            )
        };
        row(Some(p.risk), "pending", &text);
    }
}
