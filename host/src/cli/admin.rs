//! The admin's commands: `trust`, `review`, `install`, `approve`, `list`, `info`,
//! `remove`, `audit`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::commands::{Failure, print_json};
use super::{AuditCommand, TrustCommand};
use crate::admin::installed::InstalledSummary;
use crate::audit::{Audit, cli_actor, parse_since, record_time};
use crate::exit::Exit;
use crate::install::{self, InstallError, Review};
use crate::policy::grants::Change;
use crate::policy::risk::{self, Finding};
use crate::runtime::Runtime;
use crate::store::Home;
use crate::store::plugins::PluginStore;
use crate::tools::poison;
use crate::trust::{PublisherKey, TrustStore};

const WIDTH: usize = 80;

/// Print `text` wrapped to the terminal width, every line after `indent`.
fn wrapped(indent: &str, text: &str) {
    let opts = textwrap::Options::new(WIDTH)
        .initial_indent(indent)
        .subsequent_indent(indent);
    // Review texts carry the manifest's and the plugin's words.
    let text = crate::text::printable_lines(text);
    for line in textwrap::wrap(&text, opts) {
        println!("{line}");
    }
}

/// Print `label` then `text`, wrapped with a hanging indent.
fn field(label: &str, text: &str) {
    let first = format!("{label:<12}");
    let opts = textwrap::Options::new(WIDTH)
        .initial_indent(&first)
        .subsequent_indent("            ");
    let text = crate::text::printable_lines(text);
    for line in textwrap::wrap(&text, opts) {
        println!("{line}");
    }
}

/// Ask a yes/no question on the terminal; without one, refuse and name `--yes`.
fn confirm(question: &str) -> Result<bool, InstallError> {
    if !std::io::stdin().is_terminal() {
        return Err(InstallError::Declined(
            "no terminal to ask for approval: review the bundle with `pincer review`, then run again with --yes".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| InstallError::Declined(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

pub(super) fn cmd_trust(home: &Home, command: &TrustCommand) -> Result<(), Failure> {
    match command {
        TrustCommand::Add { pubkey, name } => {
            let key = PublisherKey::from_arg(pubkey)?;
            let entry = crate::admin::trust::add(home, &cli_actor(), &key, name)?;
            println!("trusted key {} as `{}`", entry.key_id, entry.name);
        }
        TrustCommand::Revoke { key_id } => {
            let revoked = crate::admin::trust::revoke(home, &cli_actor(), key_id)?;
            let entry = &revoked.key;
            println!("revoked key {} (`{}`)", entry.key_id, entry.name);
            if !revoked.signed.is_empty() {
                println!(
                    "installed plugins it signed are refused from now on: {}",
                    revoked.signed.join(", ")
                );
            }
        }
        TrustCommand::List { json } => {
            let store = TrustStore::load(home)?;
            if *json {
                print_json(&serde_json::to_value(&store.keys).expect("keys serialise"));
            } else if store.keys.is_empty() {
                println!("no keys trusted; add one with `pincer trust add PUBKEY --name NAME`");
            } else {
                println!("{:<16}  {:<8}  {:<24}  NAME", "KEY ID", "STATUS", "SINCE");
                for k in &store.keys {
                    let (status, since) = match &k.revoked_at {
                        Some(at) => ("revoked", at),
                        None => ("trusted", &k.added_at),
                    };
                    println!("{:<16}  {status:<8}  {since:<24}  {}", k.key_id, k.name);
                }
            }
        }
    }
    Ok(())
}

fn ok_word(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAILED" }
}

/// Print a review for a person, within 80 columns.
pub(super) fn print_review(r: &Review) {
    let p = &r.plugin;
    println!("Review of {}", r.bundle.display());
    println!();
    field(
        "plugin",
        &format!("{} {} ({}), \"{}\"", p.id, p.version, p.kind, p.name),
    );
    field(
        "publisher",
        &format!("{} (as its manifest says)", p.publisher),
    );
    field("about", &p.description);
    println!();
    let s = &r.signature;
    let key = match (&s.key_id, &s.signer) {
        (Some(id), Some(name)) => format!("key {id} `{name}` ({})", s.key_status),
        (Some(id), None) => format!("key {id} ({})", s.key_status),
        _ => "none (unsigned)".into(),
    };
    field("signature", &format!("{}: {key}", ok_word(s.ok)));
    if let Some(problem) = &s.problem {
        wrapped("            ", problem);
    }
    let d = &r.digest;
    field(
        "digest",
        &match (&d.expected, d.ok) {
            (_, true) => format!("ok: component sha256 {} matches", &d.found[..16]),
            (Some(e), false) => format!(
                "FAILED: component sha256 {}..., manifest expects {}...",
                &d.found[..16],
                &e[..16.min(e.len())]
            ),
            (None, false) => "FAILED: the manifest does not pin the component".into(),
        },
    );
    field("risk", r.risk.as_str());
    println!();
    println!("Grants (what it may do)");
    for f in &r.capabilities {
        print_finding(f);
        wrapped("                      ", &f.meaning);
    }
    println!();
    let i = &r.imports;
    if i.ok {
        let uses: Vec<&str> = i.uses.iter().map(|c| c.interface()).collect();
        field(
            "imports",
            &format!(
                "ok: uses the base set, log{}{}",
                if uses.is_empty() { "" } else { ", " },
                uses.join(", ")
            ),
        );
        for unused in &i.unused_grants {
            wrapped(
                "            ",
                &format!(
                    "note: asks for {} but never imports it; the grant is not needed",
                    unused.section()
                ),
            );
        }
    } else {
        field("imports", "FAILED");
        for problem in &i.problems {
            wrapped("            ", &format!("- {problem}"));
        }
    }
    match &r.installed {
        None => field("installed", "not installed"),
        Some(diff) => {
            let relation = match diff.relation {
                "upgrade" => "an upgrade",
                "downgrade" => "a DOWNGRADE",
                "same" => "the installed bundle again",
                _ => "the same version with other content",
            };
            field(
                "installed",
                &format!(
                    "{} installed; this is {relation} ({} -> {})",
                    diff.version, diff.version, p.version
                ),
            );
            if let Some(pending) = &diff.pending {
                wrapped("            ", &format!("{pending} is pending approval"));
            }
            print_changes(&diff.changes);
        }
    }
    if let Some(tools) = &r.tools {
        println!();
        print_tools(tools);
    }
    println!();
    field("verdict", r.verdict.outcome);
    for reason in &r.verdict.reasons {
        wrapped("            ", &format!("- {reason}"));
    }
}

/// Print an `mcp-server`'s tools as the review listed them (each name and the first
/// line of its description, cut to the width), then the poisoning review of them.
fn print_tools(tools: &install::review::ToolsReview) {
    println!("Tools (as it lists them with every capability denied)");
    if let Some(error) = &tools.error {
        wrapped("  ", &format!("could not be listed: {error}"));
        return;
    }
    if tools.listed.is_empty() {
        println!("  none");
    }
    let width = tools
        .listed
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    for t in &tools.listed {
        let name = poison::escape_hidden(&t.name);
        let first = poison::escape_hidden(t.description.lines().next().unwrap_or(""));
        println!("{}", clip(&format!("  {name:<width$}  {first}"), WIDTH));
    }
    println!();
    match tools.findings.len() {
        0 => println!("Poisoning review: nothing found"),
        1 => println!("Poisoning review: 1 finding"),
        n => println!("Poisoning review: {n} findings"),
    }
    print_findings(&tools.findings);
}

/// `line` cut to `width` characters, with `…` where it was cut.
fn clip(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let mut out: String = line.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// Print the poisoning review's findings: where each is (tool, field, character span),
/// the rule and risk, the excerpt with hidden characters escaped, and why it matters.
pub(super) fn print_findings(findings: &[poison::Finding]) {
    for f in findings {
        println!();
        let opts = textwrap::Options::new(WIDTH)
            .initial_indent("  ")
            .subsequent_indent("          ");
        let place = format!(
            "{:<6}  {}  {}",
            f.risk.as_str(),
            poison::escape_hidden(&f.tool),
            f.field
        );
        for line in textwrap::wrap(&place, opts) {
            println!("{line}");
        }
        wrapped(
            "          ",
            &format!("{}, chars {}-{}", f.rule, f.start, f.end),
        );
        wrapped("          ", &format!("\"{}\"", f.excerpt));
        wrapped("          ", &f.message);
    }
}

fn print_finding(f: &Finding) {
    wrapped(
        "",
        &format!(
            "  {:<6}  {:<10}  {}",
            f.risk.as_str(),
            f.capability,
            f.grant
        ),
    );
}

fn print_changes(changes: &[Change]) {
    if changes.is_empty() {
        wrapped("            ", "grants unchanged");
    }
    for c in changes {
        let mark = if c.wider { "+ WIDER " } else { "- " };
        wrapped(
            "            ",
            &format!("{mark}{}: {}", c.capability, c.change),
        );
    }
}

pub(super) fn cmd_review(
    runtime: &Runtime,
    bundle: &Path,
    allow_downgrade: bool,
    json: bool,
) -> Result<(), Failure> {
    if !bundle.exists()
        && let Some(id) = bundle.to_str()
        && PluginStore::new(runtime.home())
            .get(id)
            .is_ok_and(|p| p.is_some())
    {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "`{id}` is an installed plugin, not a bundle: review its tools against the approved ones with `pincer review {id} --tools`, or every plugin with `pincer review --all`"
            ),
        ));
    }
    let review = install::review(runtime, bundle, allow_downgrade, None)?;
    if json {
        print_json(&serde_json::to_value(&review).expect("reviews serialise"));
    } else {
        print_review(&review);
    }
    if review.refused() {
        return Err(Failure::new(
            Exit::Refused,
            format!("`pincer install` would refuse {}", bundle.display()),
        ));
    }
    Ok(())
}

pub(super) fn cmd_install(
    runtime: &Runtime,
    bundle: &Path,
    yes: bool,
    options: &install::Options,
    json: bool,
) -> Result<(), Failure> {
    let outcome = install::install(runtime, &cli_actor(), bundle, options, |review| {
        if yes {
            return Ok(true);
        }
        print_review(review);
        println!();
        let question = match review.verdict.outcome {
            "pending-approval" => format!(
                "Stage {} {} as pending (it runs only after `pincer approve`)?",
                review.plugin.id, review.plugin.version
            ),
            _ => format!(
                "Install {} {} with these grants?",
                review.plugin.id, review.plugin.version
            ),
        };
        confirm(&question)
    })?;
    if json {
        print_json(&serde_json::to_value(&outcome).expect("outcomes serialise"));
        return Ok(());
    }
    match outcome.outcome {
        "installed" => println!("installed {} {}", outcome.plugin, outcome.version),
        "updated" => println!(
            "updated {} to {} (its grants are within the approved ones)",
            outcome.plugin, outcome.version
        ),
        "repaired" => println!(
            "replaced the damaged installed copy of {} {} with the verified bundle",
            outcome.plugin, outcome.version
        ),
        "pending-approval" => println!(
            "{} {} asks for more than was approved: it is pending, and {} keeps running until `pincer approve {}`",
            outcome.plugin, outcome.version, outcome.active_version, outcome.plugin
        ),
        _ => println!(
            "{} {} is already installed; nothing changed",
            outcome.plugin, outcome.version
        ),
    }
    Ok(())
}

pub(super) fn cmd_approve(runtime: &Runtime, id: &str, yes: bool) -> Result<(), Failure> {
    let store = PluginStore::new(runtime.home());
    let state = store
        .get(id)?
        .ok_or_else(|| InstallError::NotInstalled(id.to_owned()))?;
    let mut approved_grants = false;
    if state.pending.is_some() {
        let outcome = install::approve(runtime, &cli_actor(), id, |state, changes| {
            let pending = state.pending.as_ref().expect("a pending update");
            println!(
                "{id}: {} is installed; {} waits for approval of these changes:",
                state.active.version, pending.version
            );
            print_changes(changes);
            if yes {
                return Ok(true);
            }
            confirm(&format!("Approve {id} {}?", pending.version))
        })?;
        println!(
            "approved {} {} (replacing {})",
            outcome.plugin, outcome.version, outcome.previous
        );
        approved_grants = true;
    }
    // What the model reads is approved too: an mcp-server plugin's tools as they are.
    let state = store
        .get(id)?
        .ok_or_else(|| InstallError::NotInstalled(id.to_owned()))?;
    let tools = if crate::mcp::alias::is_mcp(&state) {
        super::pins::approve_tools(runtime, id, yes, confirm)?
    } else {
        None
    };
    match tools {
        Some(t) => {
            let mut what = Vec::new();
            for (label, names) in [("new", &t.added), ("changed", &t.changed)] {
                if !names.is_empty() {
                    what.push(format!("{label}: {}", names.join(", ")));
                }
            }
            println!(
                "approved the tools of {id} as they are now: {} pinned{}",
                t.pinned,
                if what.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", what.join("; "))
                }
            );
        }
        None if approved_grants => {}
        None if crate::mcp::alias::is_mcp(&state) => {
            return Err(Failure::new(
                Exit::Usage,
                format!(
                    "nothing to approve: {id} {} has no pending update, and its tools are the approved ones",
                    state.active.version
                ),
            ));
        }
        None => {
            return Err(InstallError::NothingPending {
                id: id.to_owned(),
                version: state.active.version.clone(),
            }
            .into());
        }
    }
    Ok(())
}

pub(super) fn cmd_list(home: &Home, json: bool) -> Result<(), Failure> {
    let plugins = PluginStore::new(home).list()?;
    if json {
        print_json(&serde_json::Value::Array(
            plugins
                .iter()
                .map(|p| InstalledSummary::of(p).to_json())
                .collect(),
        ));
        return Ok(());
    }
    if plugins.is_empty() {
        println!("no plugins installed; install one with `pincer install BUNDLE`");
        return Ok(());
    }
    println!(
        "{:<26} {:<8} {:<10} {:<6} {:<16} PENDING",
        "ID", "VERSION", "KIND", "RISK", "SIGNING KEY"
    );
    for p in &plugins {
        let r = risk::overall(&risk::assess(&p.active.grants));
        println!(
            "{:<26} {:<8} {:<10} {:<6} {:<16} {}",
            p.id,
            p.active.version,
            p.active.grants.kind,
            r.as_str(),
            p.active.key_id,
            p.pending.as_ref().map_or("-", |s| s.version.as_str())
        );
    }
    Ok(())
}

pub(super) fn cmd_info(home: &Home, id: &str, json: bool) -> Result<(), Failure> {
    let p = PluginStore::new(home)
        .get(id)?
        .ok_or_else(|| Failure::from(InstallError::NotInstalled(id.to_owned())))?;
    if json {
        print_json(&InstalledSummary::of(&p).to_json());
        return Ok(());
    }
    let a = &p.active;
    field(
        "plugin",
        &format!("{} {} ({})", p.id, a.version, a.grants.kind),
    );
    field("signed by", &format!("key {} `{}`", a.key_id, a.signer));
    field("component", &format!("sha256 {}", a.sha256));
    field("installed", &a.installed_at);
    if let Some(ap) = &a.approval {
        field("approved", &format!("{} by {}", ap.at, ap.by));
        field("grants", &format!("digest {}", ap.grants_digest));
    }
    println!();
    for f in risk::assess(&a.grants) {
        print_finding(&f);
    }
    if let Some(s) = &p.pending {
        println!();
        field(
            "pending",
            &format!(
                "{} (sha256 {}...), waiting for `pincer approve {}`",
                s.version,
                &s.sha256[..16],
                p.id
            ),
        );
        print_changes(&s.grants.changes_from(&a.grants));
    }
    Ok(())
}

pub(super) fn cmd_remove(
    runtime: &Runtime,
    id: &str,
    keep_data: bool,
    json: bool,
) -> Result<(), Failure> {
    let removed = install::remove(runtime, &cli_actor(), id, keep_data)?;
    if json {
        print_json(&serde_json::to_value(&removed).expect("outcomes serialise"));
        return Ok(());
    }
    let what = match &removed.version {
        Some(version) => format!("removed {id} {version}"),
        None => format!("{id} is not installed; removed the data kept for it"),
    };
    if removed.kept {
        println!(
            "{what}; its secrets, config, key-value store and data are kept (in {}), for an install of {id} signed by the same key",
            runtime.home().join(format!("data/{id}")).display()
        );
    } else if removed.deleted.is_empty() {
        println!("{what}; it kept nothing else");
    } else {
        println!("{what} and its {}", removed.deleted.join(", "));
    }
    Ok(())
}

pub(super) fn cmd_audit(home: &Home, command: &AuditCommand) -> Result<(), Failure> {
    let audit = Audit::open(home)?;
    match command {
        AuditCommand::Verify { head, json } => {
            let report = match head {
                None => audit.verify()?,
                Some(file) => {
                    let text = std::fs::read(file).map_err(|e| {
                        Failure::new(Exit::Usage, format!("cannot read {}: {e}", file.display()))
                    })?;
                    let kept: crate::audit::Head = serde_json::from_slice(&text).map_err(|e| {
                        Failure::new(
                            Exit::Usage,
                            format!(
                                "{} is not a chain head as `pincer audit head` prints it: {e}",
                                file.display()
                            ),
                        )
                    })?;
                    audit.verify_against(&kept)?
                }
            };
            if *json {
                print_json(&serde_json::to_value(&report).expect("reports serialise"));
            } else {
                if let Some(torn) = &report.torn {
                    println!(
                        "note: the last line ({}, {} bytes) is a torn record from a crash; the records before it are intact",
                        torn.line, torn.bytes
                    );
                }
                match &report.problem {
                    None => println!("ok: {} records, chain and head intact", report.records),
                    Some(p) => println!("TAMPERED: {}", p.message),
                }
                for gap in report.gaps.iter().filter(|g| g.acknowledged_by.is_some()) {
                    println!(
                        "acknowledged gap: record {} found the chain head {} (records after {} may have been cut); acknowledged by record {}: {}",
                        gap.repair,
                        gap.kind.trim_start_matches("head-"),
                        gap.after,
                        gap.acknowledged_by.unwrap_or_default(),
                        crate::text::printable(gap.reason.as_deref().unwrap_or(""))
                    );
                }
            }
            if let Some(p) = report.problem {
                return Err(Failure::new(
                    Exit::Refused,
                    format!("the audit trail does not verify: {}", p.message),
                ));
            }
        }
        AuditCommand::Head => match audit.head()? {
            Some(head) => println!("{}", serde_json::to_string(&head).expect("heads serialise")),
            None => {
                return Err(Failure::new(
                    Exit::Refused,
                    "the audit trail has no chain head yet (no record was written, or it was deleted: `pincer audit verify` says which)",
                ));
            }
        },
        AuditCommand::Acknowledge { seq, reason } => {
            let ack = audit.acknowledge(&cli_actor(), *seq, reason)?;
            println!("acknowledged the gap named by record {seq} (record {ack})");
        }
        AuditCommand::Show {
            plugin,
            since,
            json,
        } => {
            let since = since
                .as_deref()
                .map(parse_since)
                .transpose()
                .map_err(|e| Failure::new(Exit::Usage, e))?;
            let (records, torn) = audit.read()?;
            for r in records.iter().filter(|r| {
                plugin.as_ref().is_none_or(|p| r.plugin.as_ref() == Some(p))
                    && since.is_none_or(|s| record_time(r).is_some_and(|t| t >= s))
            }) {
                if *json {
                    println!("{}", serde_json::to_string(r).expect("records serialise"));
                    continue;
                }
                let event = serde_json::to_value(r.event).expect("events serialise");
                println!(
                    "{:>5}  {}  {:<13}  {}  {}{}",
                    r.seq,
                    r.time,
                    event.as_str().unwrap_or_default(),
                    r.actor,
                    r.plugin
                        .as_deref()
                        .map(|p| format!("{p}  "))
                        .unwrap_or_default(),
                    // Details carry plugin text (faults, tool definitions, reasons).
                    crate::text::printable(&r.details.to_string())
                );
            }
            if let Some(torn) = torn {
                eprintln!(
                    "note: line {} of the log is a torn record from a crash ({} bytes)",
                    torn.line, torn.bytes
                );
            }
        }
    }
    Ok(())
}

pub(super) fn cmd_alias(
    runtime: &Runtime,
    id: &str,
    alias: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let served_as = install::set_alias(runtime, &cli_actor(), id, alias)?;
    if json {
        print_json(&serde_json::json!({ "plugin": id, "alias": served_as }));
    } else {
        let form = if served_as.is_empty() {
            "TOOL, without a prefix".to_owned()
        } else {
            format!("{served_as}__TOOL")
        };
        println!(
            "{id}: tools are served as {form} (running `pincer mcp` servers pick this up on their own)"
        );
    }
    Ok(())
}
