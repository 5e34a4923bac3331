//! An installed `mcp-server` plugin's tools against the definitions an admin approved:
//! `pincer review ID --tools`, the tool step of `pincer approve`, and `pincer tools`.
//! The gate before a call is [`crate::install::tools::check_callable`].

use serde_json::json;

use super::commands::{Failure, print_json};
use crate::audit::cli_actor;
use crate::exit::Exit;
use crate::install::tools::{self as pinning, Listing, ToolsApproved, explain, shown};
use crate::runtime::{Plugin, Runtime};
use crate::store::plugins::Installed;
use crate::tools::ToolInfo;
use crate::tools::pins::{self, Change, Checked, Piece, Withheld};
use crate::tools::poison;

/// Load the installed plugin `id` (verified again) and list its tools.
fn load_listing(runtime: &Runtime, id: &str) -> Result<Listing, Failure> {
    Ok(pinning::listing(runtime, id, &runtime.load_installed(id)?)?)
}

/// `pincer tools ID`: the tools that may be served; each withheld one is named on
/// stderr and audited.
pub(super) fn served_tools(
    runtime: &Runtime,
    id: &str,
    plugin: &Plugin,
) -> Result<Vec<ToolInfo>, Failure> {
    let checked = pinning::served(runtime, &cli_actor(), id, plugin)?;
    for w in &checked.withheld {
        eprintln!("warning: {}", explain(id, w));
    }
    Ok(checked.served)
}

/// A withheld tool and how it differs from its pin, field by field, word by word.
fn withheld_json(state: &Installed, w: &Withheld) -> serde_json::Value {
    let mut value = serde_json::to_value(w).expect("withheld tools serialise");
    if let Change::Changed { fields, .. } = &w.change
        && let Some(pin) = pinning::pinned(state).and_then(|p| p.get(&w.tool.name))
    {
        let diffs: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|field| {
                let (old, new) = field_texts(&pin.tool, &w.tool, field);
                (
                    (*field).to_owned(),
                    serde_json::to_value(pins::word_diff(&old, &new)).expect("diffs serialise"),
                )
            })
            .collect();
        value["diff"] = serde_json::Value::Object(diffs);
    }
    value
}

/// The text of `field` in the pinned and the listed definition.
fn field_texts(old: &ToolInfo, new: &ToolInfo, field: &str) -> (String, String) {
    let title = |t: &ToolInfo| t.title.clone().unwrap_or_default();
    match field {
        "title" => (title(old), title(new)),
        "description" => (old.description.clone(), new.description.clone()),
        "input_schema" => (
            pins::schema_text(Some(&old.input_schema)),
            pins::schema_text(Some(&new.input_schema)),
        ),
        _ => (
            pins::schema_text(old.output_schema.as_ref()),
            pins::schema_text(new.output_schema.as_ref()),
        ),
    }
}

/// A word diff as text: `[-removed-]` and `{+added+}`, as `git diff --word-diff`.
fn diff_text(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Same(s) => shown(s),
            Piece::Removed(s) => format!("[-{}-]", shown(s)),
            Piece::Added(s) => format!("{{+{}+}}", shown(s)),
        })
        .collect()
}

/// Print each line of `text` after `indent`.
fn indented(indent: &str, text: &str) {
    for line in text.lines() {
        println!("{indent}{line}");
    }
}

/// Print how the tools listed now differ from the approved ones.
fn print_changes(state: &Installed, checked: &Checked) {
    for t in &checked.served {
        println!("  {:<24} approved, unchanged", shown(&t.name));
    }
    for w in &checked.withheld {
        match &w.change {
            Change::Duplicated => {
                println!(
                    "  {:<24} WITHHELD: listed more than once (never served)",
                    shown(&w.tool.name)
                );
            }
            Change::New => {
                println!(
                    "  {:<24} WITHHELD: new, never approved",
                    shown(&w.tool.name)
                );
                if let Some(title) = &w.tool.title {
                    println!("      title:");
                    indented("        ", &shown(title));
                }
                println!("      description:");
                indented("        ", &shown(&w.tool.description));
                println!("      input schema:");
                indented(
                    "        ",
                    &shown(&pins::schema_text(Some(&w.tool.input_schema))),
                );
                if w.tool.output_schema.is_some() {
                    println!("      output schema:");
                    indented(
                        "        ",
                        &shown(&pins::schema_text(w.tool.output_schema.as_ref())),
                    );
                }
            }
            Change::Changed { fields, .. } => {
                println!(
                    "  {:<24} WITHHELD: {}",
                    shown(&w.tool.name),
                    w.change
                        .summary()
                        .replace(" since an admin approved it", "")
                );
                let Some(pin) = pinning::pinned(state).and_then(|p| p.get(&w.tool.name)) else {
                    continue;
                };
                for field in fields {
                    let (old, new) = field_texts(&pin.tool, &w.tool, field);
                    println!(
                        "      {} ([-removed-] {{+added+}}):",
                        field.replace('_', " ")
                    );
                    indented("        ", &diff_text(&pins::word_diff(&old, &new)));
                }
            }
        }
    }
    for name in &checked.removed {
        println!(
            "  {:<24} no longer listed (served again if it comes back unchanged)",
            shown(name)
        );
    }
}

/// `pincer review ID --tools`.
pub(super) fn cmd_review_tools(runtime: &Runtime, id: &str, json: bool) -> Result<(), Failure> {
    let Listing {
        state,
        listed,
        checked,
    } = load_listing(runtime, id)?;
    let findings = poison::scan(&listed);
    if json {
        print_json(&json!({
            "plugin": id,
            "version": state.active.version,
            "pinned": pinning::pinned(&state).is_some(),
            "served": checked.served.iter().map(|t| &t.name).collect::<Vec<_>>(),
            "withheld": checked.withheld.iter().map(|w| withheld_json(&state, w)).collect::<Vec<_>>(),
            "removed": checked.removed,
            "findings": findings,
        }));
        return Ok(());
    }
    println!(
        "Tools of {id} {}, as listed now, against the definitions an admin approved",
        state.active.version
    );
    if pinning::pinned(&state).is_none() {
        println!("(no tool definitions were ever approved for this plugin)");
    }
    println!();
    if listed.is_empty() && checked.removed.is_empty() {
        println!("  it lists no tools");
    }
    print_changes(&state, &checked);
    println!();
    if findings.is_empty() {
        println!("Poisoning review: nothing found in the tools listed now.");
    } else {
        println!("Poisoning review of the tools listed now:");
        super::admin::print_findings(&findings);
    }
    println!();
    if checked.withheld.is_empty() {
        println!("Every tool listed now is approved; nothing is withheld.");
    } else {
        println!(
            "{} withheld; approve the tools as they are now with `pincer approve {id}`.",
            plural(checked.withheld.len(), "tool is", "tools are")
        );
    }
    Ok(())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The tool step of `pincer approve ID`: list the tools now, show how they differ from
/// the approved definitions, and pin them as they are if the admin agrees. `Ok(None)`
/// when there is nothing to approve.
pub(super) fn approve_tools(
    runtime: &Runtime,
    id: &str,
    yes: bool,
    confirm: impl FnOnce(&str) -> Result<bool, crate::install::InstallError>,
) -> Result<Option<ToolsApproved>, Failure> {
    let Listing {
        state,
        listed,
        checked,
    } = load_listing(runtime, id)?;
    if checked.withheld.is_empty() && pinning::pinned(&state).is_some() {
        return Ok(None);
    }
    println!(
        "{id} {}: its tools as listed now, against the approved definitions:",
        state.active.version
    );
    print_changes(&state, &checked);
    let findings = poison::scan(&listed);
    if !findings.is_empty() {
        println!("Poisoning review of the tools listed now:");
        super::admin::print_findings(&findings);
    }
    if !yes
        && !confirm(&format!(
            "Approve the tools of {id} as they are listed now?"
        ))?
    {
        return Err(Failure::new(
            Exit::Refused,
            format!("not approved: the changed and new tools of {id} stay withheld"),
        ));
    }
    Ok(Some(pinning::approve_tools(
        runtime,
        &cli_actor(),
        &state,
        &listed,
    )?))
}
