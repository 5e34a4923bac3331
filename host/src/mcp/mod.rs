//! The MCP server (`pincer mcp`): the tools, resources and prompts of every installed,
//! approved `mcp-server` plugin, served with `rmcp` over stdio or Streamable HTTP.
//!
//! A tool is named `<alias>__<tool>`, the alias being the last segment of the plugin's
//! id unless an admin chose another ([`alias`]). Descriptions and schemas pass through
//! unchanged. A plugin's own error is an `isError` result with its message; a plugin
//! fault (trap, timeout, memory) is an `isError` result that names the fault, and the
//! server goes on. A cancelled request stops its plugin call at once. The registry is
//! reloaded when the install store changes, and every client is told
//! (`notifications/tools/list_changed`). A plugin's `ask` approvals go to the client
//! that made the call, as an elicitation, when it supports that.
//!
//! Only tools whose definitions an admin approved are served ([`crate::policy::pins`]):
//! the tools are listed again whenever a client asks for the list and every
//! [`Serve::tools_refresh`], and a tool that differs from its pin, or is new, is
//! withheld (not listed; a call says why and what the admin can do), audited once per
//! definition, and clients are told the list changed.
//!
//! This module owns the registry and the protocol handler; [`http`] and [`stdio`] are
//! the transports. It never runs a plugin that `Runtime::load_installed` refused.

pub mod alias;
mod approver;
pub mod http;
mod stdio;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
// `logging/setLevel` is deprecated after 2025-11-25 (SEP-2577), but the versions this
// server speaks have it.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument, PromptMessage,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, Role, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleServer};

use crate::kinds::mcp::{ContentItem, PromptInfo, ResourceInfo, ToolInfo};
use crate::manifest::PluginKind;
use crate::runtime::{Plugin, Runtime};
use crate::store::plugins::{Installed, PluginStore};

/// Protocol versions this server speaks.
pub const PROTOCOL_VERSIONS: [ProtocolVersion; 2] =
    [ProtocolVersion::V_2025_06_18, ProtocolVersion::V_2025_11_25];

/// The separator between a plugin's alias and its tool's name.
pub const SEPARATOR: &str = "__";

/// How often a running server looks for installs, updates and removals.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// What `pincer mcp` serves, and how.
#[derive(Debug, Clone)]
pub struct Serve {
    /// Streamable HTTP on this loopback address; stdio when `None`.
    pub http: Option<SocketAddr>,
    /// Browser origins allowed to call the HTTP endpoint.
    pub allowed_origins: Vec<String>,
    /// Serve only these plugins; all when empty.
    pub plugins: Vec<String>,
    /// On stdio, how long to watch stdin for the next message before sleeping
    /// ([`await_stdin`]).
    pub busy_poll: std::time::Duration,
    /// How often to list every plugin's tools again, to withhold a tool whose
    /// definition changed (a `remote` adapter's server can change at any time).
    pub tools_refresh: Duration,
}

/// The default of `pincer mcp --tools-refresh`.
pub const DEFAULT_TOOLS_REFRESH: Duration = Duration::from_secs(30);

/// The default of `pincer mcp --busy-poll-us`: long enough to cover a client that
/// sends its next call as soon as it has read an answer (a pipe hop is about 40 µs on
/// a virtual machine), short enough that an idle server costs nothing measurable.
pub const DEFAULT_BUSY_POLL_US: u64 = 250;

pub use stdio::await_stdin;

/// Serve until the client closes stdin (stdio) or the process is interrupted (HTTP).
pub async fn serve(runtime: Arc<Runtime>, serve: Serve) -> Result<(), String> {
    let server = Server::start(runtime, serve.plugins, serve.tools_refresh).await?;
    match serve.http {
        Some(addr) => http::serve(server, addr, serve.allowed_origins).await,
        None => stdio::serve(server).await,
    }
}

/// One exposed tool.
struct Entry {
    plugin: Arc<Plugin>,
    tool: String,
    info: Tool,
    /// The tool's input schema, compiled: arguments are checked before the plugin runs.
    validator: jsonschema::Validator,
}

/// A tool that is not served because no admin approved its definition as it is.
#[derive(Debug, Clone)]
struct WithheldEntry {
    plugin: String,
    withheld: crate::policy::pins::Withheld,
}

impl WithheldEntry {
    /// Why a call to it is refused, and what an admin can do.
    fn explain(&self, name: &str) -> String {
        crate::install::tools::withheld_message(&self.plugin, name, &self.withheld.change)
    }
}

/// A plugin's tools, prompts and resources, as it lists them.
type Lists = (Vec<ToolInfo>, Vec<PromptInfo>, Vec<ResourceInfo>);

/// List `plugin`'s tools, prompts and resources: all of them, or the first failure.
async fn list_all(plugin: &Plugin) -> Result<Lists, crate::runtime::CallError> {
    Ok((
        plugin.list_tools().await?,
        plugin.list_prompts().await?,
        plugin.list_resources().await?,
    ))
}

/// A plugin the registry serves, as loaded (verified) once.
#[derive(Clone)]
struct Loaded {
    plugin: Arc<Plugin>,
    alias: String,
    pins: Option<crate::policy::pins::Pins>,
}

/// One exposed prompt.
struct PromptEntry {
    plugin: Arc<Plugin>,
    name: String,
    info: Prompt,
}

/// One exposed resource.
struct ResourceEntry {
    plugin: Arc<Plugin>,
    info: Resource,
}

/// What the served plugins look like in the install store and the trust store: when
/// it changes (an install, update, approval, removal, alias or revoked key), the
/// registry is loaded again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Fingerprint {
    plugins: Vec<(String, String, String, Option<String>)>,
    trust: Option<String>,
}

impl Fingerprint {
    pub(crate) fn of(home: &crate::store::Home, installed: &[Installed]) -> Self {
        let trust = home
            .read_optional(crate::trust::store::FILE)
            .ok()
            .flatten()
            .map(|bytes| crate::runtime::sha256_hex(&bytes));
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
    tools: BTreeMap<String, Entry>,
    prompts: BTreeMap<String, PromptEntry>,
    resources: BTreeMap<String, ResourceEntry>,
    fingerprint: Fingerprint,
    /// Plugins (or single tools) that could not be served, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Tools withheld for want of an approval of their definition, by exposed name.
    withheld: BTreeMap<String, WithheldEntry>,
    /// The plugins loaded, to list their tools again without verifying them again.
    loaded: Vec<Loaded>,
    /// What was skipped while loading (before any tool was listed).
    load_skipped: Vec<(String, String)>,
}

/// Is `name` a valid MCP tool name (`^[a-zA-Z0-9_-]{1,64}$`)?
pub fn valid_tool_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn json_object(v: &serde_json::Value) -> Arc<serde_json::Map<String, serde_json::Value>> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

fn tool_model(name: &str, info: &ToolInfo) -> Tool {
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

fn prompt_model(name: &str, info: &PromptInfo) -> Prompt {
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

fn resource_model(info: &ResourceInfo) -> Resource {
    let mut resource = Resource::new(info.uri.clone(), info.name.clone());
    resource.description = info.description.clone();
    resource.mime_type = info.mime_type.clone();
    resource
}

/// The installed `mcp-server` plugins to serve: all of them, or those in `only`.
/// `strict` (at start) refuses an id in `only` that is not installed; a reload just
/// stops serving it.
fn served(store: &PluginStore, only: &[String], strict: bool) -> Result<Vec<Installed>, String> {
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

    async fn load_served(
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
            // Verifying and loading reads files and may compile: off the async threads.
            let loading = {
                let (runtime, id) = (runtime.clone(), p.id.clone());
                tokio::task::spawn_blocking(move || runtime.load_installed(&id))
            };
            let loaded = loading
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
        )
        .await)
    }

    /// List the tools, prompts and resources of `loaded` and serve those that may be.
    async fn build(
        loaded: Vec<Loaded>,
        fingerprint: Fingerprint,
        load_skipped: Vec<(String, String)>,
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
                Some(Ok(listed)) => registry.add(l, listed, &mut contested),
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
    async fn relisted(&self) -> Self {
        Self::build(
            self.loaded.clone(),
            self.fingerprint.clone(),
            self.load_skipped.clone(),
        )
        .await
    }

    /// Add a loaded plugin's tools (those its approval pins as `listed` now),
    /// prompts and resources: all of them or, if listing any fails, none. A resource
    /// URI that another plugin serves too goes into `contested` and is served by
    /// neither.
    fn add(
        &mut self,
        loaded: &Loaded,
        (tools, prompts, resources): Lists,
        contested: &mut std::collections::BTreeSet<String>,
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
        let checked = crate::policy::pins::check(pins.as_ref(), tools);
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
            let validator = match jsonschema::validator_for(&info.input_schema) {
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
                    info: tool_model(&name, &info),
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

/// The MCP protocol handler. Clones share the registry and the list of clients, so
/// each HTTP session gets its own handler over the same state.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
    /// Where a call leaves the work that can wait until its answer is written: the
    /// stdio transport runs it after each write. Over HTTP (`None`) it is spawned.
    after_send: Option<Arc<AfterSend>>,
}

type Job = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Work deferred until the next message has been written to the client, off the
/// round trip: dropping a spent instance and preparing the next call's.
#[derive(Default)]
pub(crate) struct AfterSend {
    jobs: Mutex<Vec<Job>>,
}

impl AfterSend {
    fn push(&self, job: Job) {
        self.jobs.lock().expect("after-send lock").push(job);
    }

    /// Run the jobs left so far.
    pub(crate) async fn run(&self) {
        let jobs = std::mem::take(&mut *self.jobs.lock().expect("after-send lock"));
        for job in jobs {
            job.await;
        }
    }
}

struct Shared {
    runtime: Arc<Runtime>,
    only: Vec<String>,
    registry: RwLock<Arc<Registry>>,
    /// Every client that finished its handshake, to tell of tool-list changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// How often the watcher lists every plugin's tools again.
    tools_refresh: Duration,
    /// The last withheld definition audited for each (plugin, tool), and when: a
    /// definition is audited once however often it is listed, and a tool whose
    /// definition keeps changing at most once a minute.
    audited: Mutex<BTreeMap<(String, String), (String, tokio::time::Instant)>>,
    /// Held while the registry is built again and swapped in, so that listings land
    /// in the order they were made.
    rebuilding: tokio::sync::Mutex<()>,
}

/// How long a client's request for the tool list waits for the tools to be listed
/// again before it is answered from the last listing.
const LIST_WAIT: Duration = Duration::from_secs(2);

/// The least time between two audit records of one tool's changing definition.
const AUDIT_CHANGES_EVERY: Duration = Duration::from_secs(60);

impl Server {
    /// Load the registry (warning on stderr about what cannot be served) and start
    /// watching the install store for changes, and the plugins' tools every
    /// `tools_refresh`.
    pub async fn start(
        runtime: Arc<Runtime>,
        only: Vec<String>,
        tools_refresh: Duration,
    ) -> Result<Self, String> {
        let registry = Registry::load(&runtime, &only).await?;
        for (plugin, why) in &registry.skipped {
            eprintln!("warning: not serving {plugin}: {why}");
        }
        for (name, entry) in &registry.withheld {
            eprintln!("warning: {}", entry.explain(name));
        }
        tracing::info!("serving {} MCP tools", registry.tools.len());
        let server = Server {
            shared: Arc::new(Shared {
                runtime,
                only,
                registry: RwLock::new(Arc::new(registry)),
                peers: Mutex::new(Vec::new()),
                tools_refresh,
                audited: Mutex::new(Default::default()),
                rebuilding: tokio::sync::Mutex::new(()),
            }),
            after_send: None,
        };
        server.audit_withheld(&server.registry());
        let watcher = server.clone();
        tokio::spawn(async move {
            let mut refreshed = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(WATCH_EVERY).await;
                if watcher.reload_if_changed().await {
                    refreshed = tokio::time::Instant::now();
                } else if refreshed.elapsed() >= watcher.shared.tools_refresh {
                    watcher.refresh_tools().await;
                    refreshed = tokio::time::Instant::now();
                }
            }
        });
        Ok(server)
    }

    /// Audit each withheld definition of `registry` not audited yet by this server.
    fn audit_withheld(&self, registry: &Registry) {
        let mut audited = self
            .shared
            .audited
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let now = tokio::time::Instant::now();
        for (name, entry) in &registry.withheld {
            let w = &entry.withheld;
            let key = (entry.plugin.clone(), w.tool.name.clone());
            if let Some((sha256, at)) = audited.get(&key)
                && (*sha256 == w.sha256 || now.duration_since(*at) < AUDIT_CHANGES_EVERY)
            {
                continue;
            }
            audited.insert(key, (w.sha256.clone(), now));
            tracing::warn!("{}", entry.explain(name));
            let details = crate::install::tools::withheld_details(name, w);
            // A remote server can change its tools at will: bounded per plugin.
            if let Err(e) = self.shared.runtime.audit().record_limited(
                "host",
                crate::audit::Event::ToolWithheld,
                Some(&entry.plugin),
                details,
            ) {
                tracing::error!(plugin = %entry.plugin, "cannot audit a withheld tool: {e}");
            }
        }
    }

    /// List every served plugin's tools again (without verifying the plugins again),
    /// withhold what no longer matches its pin, and tell clients if the list changed.
    pub async fn refresh_tools(&self) {
        let _one_at_a_time = self.shared.rebuilding.lock().await;
        let fresh = self.registry().relisted().await;
        self.swap(fresh, true);
    }

    /// [`refresh_tools`](Self::refresh_tools), waiting for it `wait` at most: a plugin
    /// slower than that (a remote server that does not answer) does not hold up the
    /// answer. The refresh goes on, and if it changes the list clients are told.
    async fn refresh_within(&self, wait: Duration) {
        let server = self.clone();
        let refresh = tokio::spawn(async move { server.refresh_tools().await });
        if tokio::time::timeout(wait, refresh).await.is_err() {
            tracing::info!(
                "listing the tools again takes longer than {wait:?}; answering with the last listing"
            );
        }
    }

    /// Serve `fresh` from now on: audit what it withholds, and tell every client if
    /// the tool list changed. A `refresh` of the plugins loaded before a reload
    /// finished meanwhile is dropped: it would bring back the old plugins and pins.
    fn swap(&self, fresh: Registry, refresh: bool) {
        let old = {
            let mut registry = self
                .shared
                .registry
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if refresh && registry.fingerprint != fresh.fingerprint {
                return;
            }
            std::mem::replace(&mut *registry, Arc::new(fresh))
        };
        self.audit_withheld(&self.registry());
        let new = self.registry();
        let tools_changed = new
            .tools
            .iter()
            .map(|(k, v)| (k, &v.info))
            .ne(old.tools.iter().map(|(k, v)| (k, &v.info)));
        if tools_changed {
            self.notify_tools_changed();
        }
    }

    fn notify_tools_changed(&self) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = self.shared.peers.lock().unwrap_or_else(|e| e.into_inner());
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        tracing::info!("tool list changed; telling {} clients", peers.len());
        // Each on its own: a client that stopped reading must not hold up the others,
        // nor the next reload.
        for peer in peers {
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), peer.notify_tool_list_changed())
                        .await;
            });
        }
    }

    fn registry(&self) -> Arc<Registry> {
        self.shared
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Load the registry again if the install store changed, and tell every client
    /// whose tool list changed. Returns whether it reloaded.
    pub async fn reload_if_changed(&self) -> bool {
        let home = self.shared.runtime.home();
        let Ok(now) = served(&PluginStore::new(home), &self.shared.only, false) else {
            return false;
        };
        let old = self.registry();
        if Fingerprint::of(home, &now) == old.fingerprint {
            return false;
        }
        let _one_at_a_time = self.shared.rebuilding.lock().await;
        let fresh =
            match Registry::load_served(&self.shared.runtime, &self.shared.only, false).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("cannot reload the MCP registry: {e}");
                    return false;
                }
            };
        for (plugin, why) in &fresh.skipped {
            tracing::warn!("not serving {plugin}: {why}");
        }
        self.swap(fresh, false);
        true
    }
}

fn fault_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

fn not_found(what: &str, name: &str, list: &str) -> ErrorData {
    ErrorData::invalid_params(format!("unknown {what} `{name}` (see {list})"), None)
}

/// A call's output as an MCP result: a fault, a busy plugin or bad arguments become an
/// `isError` result that says why, and the server goes on.
fn tool_result(
    output: Result<crate::kinds::mcp::ToolOutput, crate::runtime::CallError>,
) -> CallToolResult {
    match output {
        Ok(out) => {
            let content = out
                .content
                .into_iter()
                .map(|item| match item {
                    ContentItem::Text { text } => ContentBlock::text(text),
                    ContentItem::Image {
                        data, mime_type, ..
                    } => ContentBlock::image(
                        base64::engine::general_purpose::STANDARD.encode(data),
                        mime_type,
                    ),
                })
                .collect();
            let mut result = if out.is_error {
                CallToolResult::error(content)
            } else {
                CallToolResult::success(content)
            };
            result.structured_content = out.structured_content;
            result
        }
        Err(e) => fault_result(e.to_string()),
    }
}

impl Server {
    /// The entry of tool `name` and its arguments as JSON text, checked against the
    /// tool's input schema before the plugin runs (`Ok(Err(result))`: the model reads
    /// why they do not match); an unknown tool is an error.
    fn checked<'r>(
        &self,
        registry: &'r Registry,
        name: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Result<(&'r Entry, String), CallToolResult>, ErrorData> {
        let Some(entry) = registry.tools.get(name) else {
            if let Some(withheld) = registry.withheld.get(name) {
                return Err(ErrorData::invalid_params(withheld.explain(name), None));
            }
            return Err(not_found("tool", name, "tools/list"));
        };
        let arguments = serde_json::Value::Object(arguments.unwrap_or_default());
        let problems: Vec<String> = entry
            .validator
            .iter_errors(&arguments)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("{at}: {e}")
                }
            })
            .collect();
        if !problems.is_empty() {
            return Ok(Err(fault_result(format!(
                "the arguments of `{name}` do not match its input schema: {}",
                problems.join("; ")
            ))));
        }
        Ok(Ok((entry, arguments.to_string())))
    }

    /// Call tool `name` for the gateway: checked like an MCP call, its approvals
    /// answered by the runtime's approver (the gateway's). `Err` for an unknown tool.
    pub(crate) async fn call_direct(
        &self,
        name: &str,
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<CallToolResult, ErrorData> {
        let registry = self.registry();
        let (entry, arguments) = match self.checked(&registry, name, arguments)? {
            Ok(checked) => checked,
            Err(rejected) => return Ok(rejected),
        };
        let (output, spent) = entry
            .plugin
            .call_tool_ready(&entry.tool, &arguments, None)
            .await;
        self.recycle_later(&entry.plugin, spent);
        Ok(tool_result(output))
    }

    /// The tools served now (listed again first, as for an MCP client): name, the
    /// plugin that provides it, and the MCP definition.
    pub(crate) async fn tools(&self) -> Vec<(String, String, Tool)> {
        self.refresh_within(LIST_WAIT).await;
        self.registry()
            .tools
            .iter()
            .map(|(name, e)| (name.clone(), e.plugin.id().to_owned(), e.info.clone()))
            .collect()
    }

    /// Drop a call's spent instance and prepare the plugin's next one once the
    /// answer is out.
    fn recycle_later(&self, plugin: &Arc<Plugin>, spent: crate::kinds::mcp::Spent) {
        let plugin = plugin.clone();
        let job: Job = Box::pin(async move { plugin.recycle(spent).await });
        match &self.after_send {
            Some(after) => after.push(job),
            None => {
                tokio::spawn(job);
            }
        }
    }

    /// The same server, leaving deferred work in `after` for its transport.
    pub(crate) fn with_after_send(mut self, after: Arc<AfterSend>) -> Self {
        self.after_send = Some(after);
        self
    }
}

impl ServerHandler for Server {
    #[allow(deprecated)] // logging: see the import of SetLevelRequestParams
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_resources()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("pincer", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Tools of plugins an admin installed and approved; each runs confined to its grants.",
        )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Owned(PROTOCOL_VERSIONS.to_vec())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut peers = self.shared.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // What the model is about to read must be what an admin approved now, not at
        // the last refresh: a remote server may have changed since.
        self.refresh_within(LIST_WAIT).await;
        Ok(ListToolsResult::with_all_items(
            self.registry()
                .tools
                .values()
                .map(|e| e.info.clone())
                .collect(),
        ))
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Plugin logs go to the host's log (stderr); the level is accepted.
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let registry = self.registry();
        let entry = self.checked(&registry, &request.name, request.arguments.clone())?;
        let (entry, arguments) = match entry {
            Ok(checked) => checked,
            Err(rejected) => return Ok(rejected.into()),
        };
        let (approver, mut questions) = approver::for_peer(&context.peer);
        let call = entry
            .plugin
            .call_tool_ready(&entry.tool, &arguments, Some(approver));
        tokio::pin!(call);
        // Dropping the call's future on cancellation drops its store: the instance
        // stops at its next yield point, and a question it asked is withdrawn.
        let output = loop {
            tokio::select! {
                (output, spent) = &mut call => {
                    self.recycle_later(&entry.plugin, spent);
                    break output;
                }
                _ = questions.ask_next(&context.peer) => {}
                _ = context.ct.cancelled() => {
                    return Ok(fault_result(format!("the call to `{}` was cancelled", request.name)).into());
                }
            }
        };
        Ok(tool_result(output).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(
            self.registry()
                .prompts
                .values()
                .map(|e| e.info.clone())
                .collect(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let registry = self.registry();
        let Some(entry) = registry.prompts.get(&request.name) else {
            return Err(not_found("prompt", &request.name, "prompts/list"));
        };
        let arguments = request
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        let messages = entry
            .plugin
            .get_prompt(&entry.name, arguments)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
            .map_err(|why| ErrorData::invalid_params(why, None))?;
        let messages = messages
            .into_iter()
            .map(|(role, text)| {
                let role = if role == "assistant" {
                    Role::Assistant
                } else {
                    Role::User
                };
                PromptMessage::new_text(role, text)
            })
            .collect();
        let mut result = GetPromptResult::new(messages);
        if let Some(d) = &entry.info.description {
            result = result.with_description(d.clone());
        }
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(
            self.registry()
                .resources
                .values()
                .map(|e| e.info.clone())
                .collect(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let registry = self.registry();
        let Some(entry) = registry.resources.get(&request.uri) else {
            return Err(ErrorData::resource_not_found(
                format!("unknown resource `{}` (see resources/list)", request.uri),
                None,
            ));
        };
        let contents = entry
            .plugin
            .read_resource(&request.uri)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
            .map_err(|why| ErrorData::resource_not_found(why, None))?;
        let mime = entry.info.mime_type.clone();
        let contents = match contents {
            crate::kinds::mcp::ResourceContents::Text(text) => {
                let mut c = ResourceContents::text(text, request.uri.clone());
                if let (ResourceContents::TextResourceContents { mime_type, .. }, Some(m)) =
                    (&mut c, mime)
                {
                    *mime_type = Some(m);
                }
                c
            }
            crate::kinds::mcp::ResourceContents::Blob(data) => ResourceContents::blob(
                base64::engine::general_purpose::STANDARD.encode(data),
                request.uri.clone(),
            )
            .with_mime_type(mime.unwrap_or_else(|| "application/octet-stream".into())),
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}
