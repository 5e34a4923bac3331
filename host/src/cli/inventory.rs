//! `pincer egress` and `pincer review --all`: what every installed plugin may do, read
//! from the install records and the admin's policy only. No plugin is loaded or run.
//!
//! The inventory itself is [`crate::admin::inventory`]; this prints it. `egress` lists each origin that an installed plugin's HTTP grant names, for an IT
//! team's firewall allowlist; `review --all` summarises every plugin's grants, tools and
//! risk on one screen. Both print JSON with `--json`, whose fields `docs/admin-guide.md`
//! documents; `tests/all/egress.rs` keeps a snapshot of `egress --json`.

use std::collections::BTreeMap;

use super::commands::{Failure, print_json};
use crate::admin::inventory::{EgressRow, Summary, egress, installed, summarise};
use crate::policy::Policy;
use crate::policy::risk::Risk;
use crate::runtime::Runtime;
use crate::store::Home;

const WIDTH: usize = 80;

const NOTHING_INSTALLED: &str = "no plugins installed; install one with `pincer install BUNDLE`";

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
