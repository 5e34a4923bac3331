//! An installed `mcp-server` plugin's tools against the definitions an admin approved
//! (its pins, see [`crate::tools::pins`]): the audit record of a withheld tool, and
//! [`approve_tools`], which pins the tools as they are listed now.

use serde::Serialize;
use serde_json::json;

use super::InstallError;
use crate::audit::Event;
use crate::runtime::Runtime;
use crate::store::plugins::{Installed, PluginStore};
use crate::tools::ToolInfo;
use crate::tools::pins::{self, Change, Checked, Withheld};

/// The most characters of a description an audit record carries.
const AUDIT_TEXT_MAX: usize = 4000;

fn capped(text: &str) -> String {
    crate::audit::clipped(text, AUDIT_TEXT_MAX)
}

/// The particulars of a `tool-withheld` audit record: the tool, how it is served,
/// what changed, both digests, and the descriptions (capped) when the description
/// changed or the tool is new.
pub fn withheld_details(served_as: &str, w: &Withheld) -> serde_json::Value {
    let mut details = json!({
        "tool": w.tool.name,
        "served_as": served_as,
        "sha256": w.sha256,
    });
    match &w.change {
        Change::New => {
            details["change"] = json!("new");
            details["description"] = json!(capped(&w.tool.description));
        }
        Change::Duplicated => details["change"] = json!("duplicated"),
        Change::Changed {
            fields,
            pinned_sha256,
        } => {
            details["change"] = json!("changed");
            details["fields"] = json!(fields);
            details["pinned_sha256"] = json!(pinned_sha256);
            if fields.contains(&"description") {
                details["description"] = json!(capped(&w.tool.description));
            }
        }
    }
    details
}

/// Why the tool served as `served_as` (of plugin `id`) is withheld, and what an admin
/// can do: what a client or `pincer call` is told.
pub fn withheld_message(id: &str, served_as: &str, change: &Change) -> String {
    format!(
        "tool `{served_as}` is withheld: {}. An admin can see the change with `pincer review {id} --tools` and approve it with `pincer approve {id}`",
        change.summary()
    )
}

/// The pins of `state`'s approval.
pub fn pinned(state: &Installed) -> Option<&pins::Pins> {
    state
        .active
        .approval
        .as_ref()
        .and_then(|a| a.tools.as_ref())
}

/// Audit the tools of `checked` that are withheld (`pincer tools` and `pincer call`
/// saw them): once per listing.
pub fn audit_withheld(
    runtime: &Runtime,
    actor: &str,
    id: &str,
    checked: &Checked,
) -> Result<(), InstallError> {
    for w in &checked.withheld {
        runtime.audit().record_limited(
            actor,
            Event::ToolWithheld,
            Some(id),
            withheld_details(&w.tool.name, w),
        )?;
    }
    Ok(())
}

/// What `approve_tools` changed.
#[derive(Debug, Clone, Serialize)]
pub struct ToolsApproved {
    /// The plugin.
    pub plugin: String,
    /// Tools approved for the first time.
    pub added: Vec<String>,
    /// Tools whose new definition was approved.
    pub changed: Vec<String>,
    /// How many tools are pinned now.
    pub pinned: usize,
}

/// Pin `listed`, the tools of `seen` (the state they were listed from) as they are now,
/// in the active approval of `id`. The pins of tools no longer listed are kept: such a
/// tool is served again if it comes back unchanged. Refused if the plugin was updated,
/// approved or removed since the tools were listed: the admin approves what they saw.
pub fn approve_tools(
    runtime: &Runtime,
    actor: &str,
    seen: &Installed,
    listed: &[ToolInfo],
) -> Result<ToolsApproved, InstallError> {
    let id = seen.id.as_str();
    let store = PluginStore::new(runtime.home());
    let _lock = store.lock()?;
    let mut state = store
        .get(id)?
        .ok_or_else(|| InstallError::NotInstalled(id.to_owned()))?;
    if state.active != seen.active {
        return Err(InstallError::Declined(format!(
            "{id} changed while its tools were being approved; run `pincer approve {id}` again"
        )));
    }
    let checked = pins::check(pinned(&state), listed.to_vec());
    let (mut added, mut changed) = (Vec::new(), Vec::new());
    for w in &checked.withheld {
        match w.change {
            Change::New => added.push(w.tool.name.clone()),
            Change::Changed { .. } => changed.push(w.tool.name.clone()),
            Change::Duplicated => {
                return Err(InstallError::Declined(format!(
                    "{id} lists more than one tool named `{}`; such a tool is never served, and cannot be approved",
                    w.tool.name
                )));
            }
        }
    }
    let mut new_pins = pinned(&state).cloned().unwrap_or_default();
    new_pins.extend(pins::pin_all(listed));
    let pinned_now = new_pins.len();
    let approval = state
        .active
        .approval
        .as_mut()
        .ok_or_else(|| InstallError::Declined(format!("no admin approved {id}'s grants")))?;
    // The grants' approval (when, by whom) stands; the audit records this one.
    approval.tools = Some(new_pins);
    store.commit(&state)?;
    let outcome = ToolsApproved {
        plugin: id.to_owned(),
        added,
        changed,
        pinned: pinned_now,
    };
    runtime.audit().record(
        actor,
        Event::ToolsApprove,
        Some(id),
        json!({
            "version": state.active.version,
            "added": outcome.added,
            "changed": outcome.changed,
            "tools": listed.iter().map(|t| json!({ "name": t.name, "sha256": pins::digest(t) })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(outcome)
}

/// Why a tool of an installed plugin cannot be listed or called.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The plugin is not installed.
    #[error("plugin `{0}` is not installed (see `pincer list`)")]
    NotInstalled(String),
    /// Listing its tools failed.
    #[error(transparent)]
    Call(#[from] crate::runtime::CallError),
    /// The plugin store failed.
    #[error(transparent)]
    Store(#[from] crate::store::plugins::StoreError),
    /// The audit trail failed.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// Installing failed (auditing a withheld tool).
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The plugin lists no tool of that name.
    #[error("plugin {id} lists no approved tool `{tool}` (see `pincer tools {id}`)")]
    Unlisted {
        /// The plugin.
        id: String,
        /// The tool's name, shown escaped.
        tool: String,
    },
    /// The tool is withheld: it changed, or is new, since an admin approved the tools.
    #[error("{0}")]
    Withheld(String),
}

impl crate::exit::ExitClass for GateError {
    fn exit(&self) -> crate::exit::Exit {
        use crate::exit::Exit;
        match self {
            GateError::NotInstalled(_) => Exit::Usage,
            GateError::Call(e) => e.exit(),
            GateError::Store(e) => e.exit(),
            GateError::Audit(e) => e.exit(),
            GateError::Install(e) => e.exit(),
            GateError::Unlisted { .. } => Exit::Tool,
            GateError::Withheld(_) => Exit::Refused,
        }
    }
}

/// An installed plugin's tools as listed now, and them sorted by its pins.
pub struct Listing {
    /// Its install record.
    pub state: Installed,
    /// The tools as the plugin lists them now.
    pub listed: Vec<ToolInfo>,
    /// Them against the approved definitions.
    pub checked: Checked,
}

/// List the tools of `plugin`, the installed plugin `id` (loaded already), and sort
/// them by the pins of its approval.
pub fn listing(
    runtime: &Runtime,
    id: &str,
    plugin: &crate::runtime::Plugin,
) -> Result<Listing, GateError> {
    let state = PluginStore::new(runtime.home())
        .get(id)?
        .ok_or_else(|| GateError::NotInstalled(id.to_owned()))?;
    let listed = crate::runtime::block_on(plugin.list_tools())?;
    let checked = pins::check(pinned(&state), listed.clone());
    Ok(Listing {
        state,
        listed,
        checked,
    })
}

/// A plugin's text as it may be shown on a terminal: line breaks kept, every other
/// control, invisible or direction-changing character escaped, so that it cannot
/// rewrite what is around it (a diff an admin is about to approve, say).
pub fn shown(text: &str) -> String {
    text.split('\n')
        .map(crate::tools::poison::escape_hidden)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What to tell a person about a withheld tool: why, and what an admin can do.
pub fn explain(id: &str, w: &Withheld) -> String {
    shown(&withheld_message(id, &w.tool.name, &w.change))
}

/// The tools of the installed plugin `id` that may be served, and the withheld ones
/// (each audited as seen by `actor`).
pub fn served(
    runtime: &Runtime,
    actor: &str,
    id: &str,
    plugin: &crate::runtime::Plugin,
) -> Result<Checked, GateError> {
    let Listing { checked, .. } = listing(runtime, id, plugin)?;
    audit_withheld(runtime, actor, id, &checked)?;
    Ok(checked)
}

/// The gate before a call of `tool` of the installed plugin `id` by `actor`: refuse a
/// tool that is not served as approved (a withheld one is audited), so that nothing
/// the plugin does not list as approved is called: a `remote` adapter would pass any
/// name on to its server.
pub fn check_callable(
    runtime: &Runtime,
    actor: &str,
    id: &str,
    plugin: &crate::runtime::Plugin,
    tool: &str,
) -> Result<(), GateError> {
    let Listing { checked, .. } = listing(runtime, id, plugin)?;
    if checked.served.iter().any(|t| t.name == tool) {
        return Ok(());
    }
    let Some(w) = checked.withheld.iter().find(|w| w.tool.name == tool) else {
        return Err(GateError::Unlisted {
            id: id.to_owned(),
            tool: shown(tool),
        });
    };
    let only = Checked {
        withheld: vec![w.clone()],
        ..Checked::default()
    };
    audit_withheld(runtime, actor, id, &only)?;
    Err(GateError::Withheld(explain(id, w)))
}
