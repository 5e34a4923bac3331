//! The registry: every served plugin's tools, prompts and resources under their
//! served names, listed again when the install store changes or a refresh is due, each
//! tool checked against its pin.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

// `logging/setLevel` is deprecated after 2025-11-25 (SEP-2577), but the versions this
// server speaks have it.
use rmcp::model::{Prompt, PromptArgument, Resource, Tool};

use crate::kinds::mcp::{PromptInfo, ResourceInfo};
use crate::manifest::PluginKind;
use crate::runtime::{Plugin, Runtime};
use crate::store::plugins::{Installed, PluginStore};
use crate::tools::ToolInfo;

use super::{SEPARATOR, alias};

/// One exposed tool.
pub(super) struct Entry {
    pub(super) plugin: Arc<Plugin>,
    pub(super) tool: String,
    pub(super) info: Tool,
    /// The tool's input schema, compiled: arguments are checked before the plugin runs.
    /// Shared with the registry listed next while the tool's definition is the same.
    pub(super) validator: Arc<jsonschema::Validator>,
}

/// A tool that is not served because no admin approved its definition as it is.
#[derive(Debug, Clone)]
pub(super) struct WithheldEntry {
    pub(super) plugin: String,
    pub(super) withheld: crate::tools::pins::Withheld,
}

impl WithheldEntry {
    /// Why a call to it is refused, and what an admin can do.
    pub(super) fn explain(&self, name: &str) -> String {
        crate::install::tools::withheld_message(&self.plugin, name, &self.withheld.change)
    }
}

/// A plugin's tools, prompts and resources, as it lists them.
pub(super) type Lists = (Vec<ToolInfo>, Vec<PromptInfo>, Vec<ResourceInfo>);

/// List `plugin`'s tools, prompts and resources: all of them, or the first failure.
pub(super) async fn list_all(plugin: &Plugin) -> Result<Lists, crate::runtime::CallError> {
    Ok((
        plugin.list_tools().await?,
        plugin.list_prompts().await?,
        plugin.list_resources().await?,
    ))
}

/// A plugin the registry serves, as loaded (verified) once.
#[derive(Clone)]
pub(super) struct Loaded {
    pub(super) plugin: Arc<Plugin>,
    pub(super) alias: String,
    pub(super) pins: Option<crate::tools::pins::Pins>,
}

/// One exposed prompt.
pub(super) struct PromptEntry {
    pub(super) plugin: Arc<Plugin>,
    pub(super) name: String,
    pub(super) info: Prompt,
}

/// One exposed resource.
pub(super) struct ResourceEntry {
    pub(super) plugin: Arc<Plugin>,
    pub(super) info: Resource,
}

/// What the served plugins look like in the install store and the trust store: when
/// it changes (an install, update, approval, removal, alias or revoked key), the
/// registry is loaded again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Fingerprint {
    pub(super) plugins: Vec<(String, String, String, Option<String>)>,
    pub(super) trust: Option<String>,
}

impl Fingerprint {
    pub(crate) fn of(home: &crate::store::Home, installed: &[Installed]) -> Self {
        let trust = home
            .read_optional(crate::trust::store::FILE)
            .ok()
            .flatten()
            .map(|bytes| crate::digest::sha256_hex(&bytes));
        let plugins = installed
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.active.dir.clone(),
                    alias::alias_of(p).to_owned(),
                    // The approval: its grants and the digests of its pinned tools.
                    p.active.approval.as_ref().map(|a| {
                        let mut text = a.grants_digest.clone();
                        for (name, pin) in a.tools.iter().flatten() {
                            text.push_str(&format!(" {name}={}", pin.sha256));
                        }
                        text
                    }),
                )
            })
            .collect();
        Fingerprint { plugins, trust }
    }
}

/// Every tool, prompt and resource of the loaded plugins, by exposed name.
pub struct Registry {
    pub(super) tools: BTreeMap<String, Entry>,
    pub(super) prompts: BTreeMap<String, PromptEntry>,
    pub(super) resources: BTreeMap<String, ResourceEntry>,
    pub(super) fingerprint: Fingerprint,
    /// Plugins (or single tools) that could not be served, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Tools withheld for want of an approval of their definition, by exposed name.
    pub(super) withheld: BTreeMap<String, WithheldEntry>,
    /// The plugins loaded, to list their tools again without verifying them again.
    pub(super) loaded: Vec<Loaded>,
    /// What was skipped while loading (before any tool was listed).
    pub(super) load_skipped: Vec<(String, String)>,
}

/// Is `name` a valid MCP tool name (`^[a-zA-Z0-9_-]{1,64}$`)?
pub fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub(super) fn json_object(
    v: &serde_json::Value,
) -> Arc<serde_json::Map<String, serde_json::Value>> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

pub(super) fn tool_model(name: &str, info: &ToolInfo) -> Tool {
    let mut tool = Tool::new_with_raw(
        name.to_owned(),
        Some(Cow::Owned(info.description.clone())),
        json_object(&info.input_schema),
    );
    if let Some(title) = &info.title {
        tool = tool.with_title(title.clone());
    }
    if let Some(schema) = &info.output_schema {
        tool = tool.with_raw_output_schema(json_object(schema));
    }
    tool
}

pub(super) fn prompt_model(name: &str, info: &PromptInfo) -> Prompt {
    Prompt::new(
        name.to_owned(),
        info.description.clone(),
        Some(
            info.arguments
                .iter()
                .map(|a| {
                    let mut arg = PromptArgument::new(a.name.clone()).with_required(a.required);
                    if let Some(d) = &a.description {
                        arg = arg.with_description(d.clone());
                    }
                    arg
                })
                .collect(),
        ),
    )
}

pub(super) fn resource_model(info: &ResourceInfo) -> Resource {
    let mut resource = Resource::new(info.uri.clone(), info.name.clone());
    resource.description = info.description.clone();
    resource.mime_type = info.mime_type.clone();
    resource
}

/// The installed `mcp-server` plugins to serve: all of them, or those in `only`.
/// `strict` (at start) refuses an id in `only` that is not installed; a reload just
/// stops serving it.
pub(super) fn served(
    store: &PluginStore,
    only: &[String],
    strict: bool,
) -> Result<Vec<Installed>, String> {
    let all = store.list().map_err(|e| e.to_string())?;
    for id in only {
        if strict && !all.iter().any(|p| &p.id == id) {
            return Err(format!(
                "plugin `{id}` is not installed (see `pincer list`)"
            ));
        }
    }
    Ok(all
        .into_iter()
        .filter(|p| p.active.grants.kind == PluginKind::McpServer.as_str())
        .filter(|p| only.is_empty() || only.contains(&p.id))
        .collect())
}

impl Registry {
    /// Load the served plugins (each verified again by the runtime) and list their
    /// tools, prompts and resources. A plugin that is refused, or a tool whose
    /// definition is malformed, is skipped with the reason.
    pub async fn load(runtime: &Arc<Runtime>, only: &[String]) -> Result<Self, String> {
        Self::load_served(runtime, only, true).await
    }

    pub(super) async fn load_served(
        runtime: &Arc<Runtime>,
        only: &[String],
        strict: bool,
    ) -> Result<Self, String> {
        let installed = served(&PluginStore::new(runtime.home()), only, strict)?;
        let mut skipped = Vec::new();
        let mut served_plugins = Vec::new();
        // Install time keeps aliases apart; a store edited by hand could still share
        // one, and then neither plugin is served rather than the first by id.
        let mut owners: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in &installed {
            owners.entry(alias::alias_of(p)).or_default().push(&p.id);
        }
        // Verifying and loading reads files, checks digests and tags and may compile:
        // off the async threads, every plugin at once (one slow to load holds up the
        // others no longer than its own load), then taken in order.
        let mut loading = Vec::new();
        for p in &installed {
            let alias = alias::alias_of(p);
            let problem = match alias::check_alias(alias) {
                Err(why) => Some(why),
                Ok(()) if owners[alias].len() > 1 => Some(format!(
                    "plugins {} share the alias `{alias}`; give each its own with `pincer alias`",
                    owners[alias].join(" and ")
                )),
                Ok(()) => None,
            };
            if let Some(why) = problem {
                skipped.push((p.id.clone(), why));
                continue;
            }
            let (runtime, id) = (runtime.clone(), p.id.clone());
            loading.push((
                p,
                alias,
                tokio::task::spawn_blocking(move || runtime.load_installed(&id)),
            ));
        }
        for (p, alias, load) in loading {
            let loaded = load
                .await
                .map_err(|e| format!("loading {} stopped: {e}", p.id))?;
            let plugin = match loaded {
                Ok(plugin) => Arc::new(plugin),
                Err(e) => {
                    skipped.push((p.id.clone(), e.to_string()));
                    continue;
                }
            };
            served_plugins.push(Loaded {
                plugin,
                alias: alias.to_owned(),
                pins: p.active.approval.as_ref().and_then(|a| a.tools.clone()),
            });
        }
        Ok(Self::build(
            served_plugins,
            Fingerprint::of(runtime.home(), &installed),
            skipped,
            None,
        )
        .await)
    }

    /// List the tools, prompts and resources of `loaded` and serve those that may be.
    /// A tool that `previous` served with the same definition keeps its compiled
    /// schema.
    pub(super) async fn build(
        loaded: Vec<Loaded>,
        fingerprint: Fingerprint,
        load_skipped: Vec<(String, String)>,
        previous: Option<&Registry>,
    ) -> Self {
        let mut registry = Registry {
            tools: BTreeMap::new(),
            prompts: BTreeMap::new(),
            resources: BTreeMap::new(),
            fingerprint,
            skipped: load_skipped.clone(),
            withheld: BTreeMap::new(),
            loaded: Vec::new(),
            load_skipped,
        };
        // Every plugin is listed at once: a slow one (a remote server that does not
        // answer, say) holds up the others no longer than its own time limit.
        let mut listing = tokio::task::JoinSet::new();
        for (i, l) in loaded.iter().enumerate() {
            let plugin = l.plugin.clone();
            listing.spawn(async move { (i, list_all(&plugin).await) });
        }
        let mut lists: Vec<Option<Result<Lists, crate::runtime::CallError>>> =
            loaded.iter().map(|_| None).collect();
        while let Some(joined) = listing.join_next().await {
            if let Ok((i, listed)) = joined {
                lists[i] = Some(listed);
            }
        }
        let mut contested = std::collections::BTreeSet::new();
        for (l, listed) in loaded.iter().zip(lists) {
            let id = l.plugin.id().to_owned();
            match listed {
                Some(Ok(listed)) => registry.add(l, listed, &mut contested, previous),
                Some(Err(e)) => registry.skipped.push((id, e.to_string())),
                None => registry
                    .skipped
                    .push((id, "listing its tools stopped unexpectedly".into())),
            }
        }
        for uri in &contested {
            registry.resources.remove(uri);
        }
        registry.loaded = loaded;
        registry
    }

    /// The same plugins with their tools, prompts and resources listed again.
    pub(super) async fn relisted(&self) -> Self {
        Self::build(
            self.loaded.clone(),
            self.fingerprint.clone(),
            self.load_skipped.clone(),
            Some(self),
        )
        .await
    }

    /// Add a loaded plugin's tools (those its approval pins as `listed` now),
    /// prompts and resources: all of them or, if listing any fails, none. A resource
    /// URI that another plugin serves too goes into `contested` and is served by
    /// neither. A tool that `previous` served from this plugin as it is defined now
    /// keeps its compiled schema (compiling every schema again at each `tools/list`
    /// was most of its time).
    pub(super) fn add(
        &mut self,
        loaded: &Loaded,
        (tools, prompts, resources): Lists,
        contested: &mut std::collections::BTreeSet<String>,
        previous: Option<&Registry>,
    ) {
        let Loaded {
            plugin,
            alias,
            pins,
        } = loaded;
        let alias = alias.as_str();
        let id = plugin.id().to_owned();
        let exposed = |name: &str| {
            if alias.is_empty() {
                name.to_owned()
            } else {
                format!("{alias}{SEPARATOR}{name}")
            }
        };
        let checked = crate::tools::pins::check(pins.as_ref(), tools);
        for withheld in checked.withheld {
            // Withheld names follow the served ones' rules, so that one plugin's
            // withheld tool can never stand in for another's.
            let name = exposed(&withheld.tool.name);
            if (alias.is_empty() && withheld.tool.name.contains(SEPARATOR))
                || !valid_tool_name(&name)
            {
                self.skipped.push((
                    id.clone(),
                    format!("tool `{name}` is not served: its name breaks MCP's naming rules"),
                ));
                continue;
            }
            self.withheld.insert(
                name,
                WithheldEntry {
                    plugin: id.clone(),
                    withheld,
                },
            );
        }
        for info in checked.served {
            let name = exposed(&info.name);
            let problem = if alias.is_empty() && info.name.contains(SEPARATOR) {
                Some(format!(
                    "tool `{name}` is not served: this plugin has no prefix, and a name with `{SEPARATOR}` could pass for another plugin's tool"
                ))
            } else if !valid_tool_name(&name) {
                Some(format!(
                    "tool `{name}` is not served: MCP tool names are 1 to 64 of a-z, A-Z, 0-9, `_`, `-`"
                ))
            } else if info.description.trim().is_empty() {
                Some(format!(
                    "tool `{name}` is not served: every tool needs a description"
                ))
            } else if self.tools.contains_key(&name) {
                Some(format!("tool `{name}` is listed twice"))
            } else {
                None
            };
            if let Some(problem) = problem {
                self.skipped.push((id.clone(), problem));
                continue;
            }
            let model = tool_model(&name, &info);
            let unchanged = previous
                .and_then(|r| r.tools.get(&name))
                .filter(|e| Arc::ptr_eq(&e.plugin, plugin) && e.info == model);
            let compiled = match unchanged {
                Some(e) => Ok(e.validator.clone()),
                None => jsonschema::validator_for(&info.input_schema).map(Arc::new),
            };
            let validator = match compiled {
                Ok(v) => v,
                Err(e) => {
                    self.skipped.push((
                        id.clone(),
                        format!("tool `{name}` is not served: its input schema is invalid: {e}"),
                    ));
                    continue;
                }
            };
            self.tools.insert(
                name.clone(),
                Entry {
                    plugin: plugin.clone(),
                    tool: info.name.clone(),
                    info: model,
                    validator,
                },
            );
        }
        for info in prompts {
            let name = exposed(&info.name);
            // Prompts follow the tools' naming rules, so they cannot collide either.
            let problem = if alias.is_empty() && info.name.contains(SEPARATOR) {
                Some(
                    "this plugin has no prefix, and a name with `__` could pass for another plugin's",
                )
            } else if !valid_tool_name(&name) {
                Some("names are 1 to 64 of a-z, A-Z, 0-9, `_`, `-`")
            } else if self.prompts.contains_key(&name) {
                Some("it is listed twice")
            } else {
                None
            };
            if let Some(why) = problem {
                self.skipped
                    .push((id.clone(), format!("prompt `{name}` is not served: {why}")));
                continue;
            }
            self.prompts.insert(
                name.clone(),
                PromptEntry {
                    plugin: plugin.clone(),
                    name: info.name.clone(),
                    info: prompt_model(&name, &info),
                },
            );
        }
        for info in resources {
            if contested.contains(&info.uri) || self.resources.contains_key(&info.uri) {
                self.skipped.push((
                    id.clone(),
                    format!(
                        "resource `{}` is not served: more than one plugin offers that URI",
                        info.uri
                    ),
                ));
                contested.insert(info.uri.clone());
                continue;
            }
            self.resources.insert(
                info.uri.clone(),
                ResourceEntry {
                    plugin: plugin.clone(),
                    info: resource_model(&info),
                },
            );
        }
    }

    /// The exposed tool names.
    pub fn names(&self) -> Vec<&str> {
        self.tools.keys().map(String::as_str).collect()
    }
}
