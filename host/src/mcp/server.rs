//! The server's state and its work beside the protocol: starting, watching the install
//! store, calling a tool in its plugin, and results in MCP's shape.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use rmcp::ErrorData;
// `logging/setLevel` is deprecated after 2025-11-25 (SEP-2577), but the versions this
// server speaks have it.
use rmcp::model::{CallToolResult, ContentBlock, Tool};
use rmcp::service::{Peer, RoleServer};

use crate::kinds::mcp::ContentItem;
use crate::runtime::{Plugin, Runtime};
use crate::store::plugins::PluginStore;

use super::WATCH_EVERY;
use super::registry::{Entry, Fingerprint, Registry, served};

/// The MCP protocol handler. Clones share the registry and the list of clients, so
/// each HTTP session gets its own handler over the same state.
#[derive(Clone)]
pub struct Server {
    pub(super) shared: Arc<Shared>,
    /// Where a call leaves the work that can wait until its answer is written: the
    /// stdio transport runs it after each write. Over HTTP (`None`) it is spawned.
    pub(super) after_send: Option<Arc<AfterSend>>,
}

pub(super) type Job = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Work deferred until the next message has been written to the client, off the
/// round trip: dropping a spent instance and preparing the next call's.
#[derive(Default)]
pub(crate) struct AfterSend {
    pub(super) jobs: Mutex<Vec<Job>>,
}

impl AfterSend {
    pub(super) fn push(&self, job: Job) {
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

pub(super) struct Shared {
    pub(super) runtime: Arc<Runtime>,
    pub(super) only: Vec<String>,
    pub(super) registry: RwLock<Arc<Registry>>,
    /// Every client that finished its handshake, to tell of tool-list changes.
    pub(super) peers: Mutex<Vec<Peer<RoleServer>>>,
    /// How often the watcher lists every plugin's tools again.
    pub(super) tools_refresh: Duration,
    /// The last withheld definition audited for each (plugin, tool), and when: a
    /// definition is audited once however often it is listed, and a tool whose
    /// definition keeps changing at most once a minute.
    pub(super) audited: Mutex<BTreeMap<(String, String), (String, tokio::time::Instant)>>,
    /// Held while the registry is built again and swapped in, so that listings land
    /// in the order they were made.
    pub(super) rebuilding: tokio::sync::Mutex<()>,
    /// The approval states handed to 2026-07-28 clients (multi round-trip requests).
    pub(super) mrtr: super::approver::mrtr::States,
    /// Bumped at each change of the tool list: what a 2026-07-28 client's
    /// `subscriptions/listen` stream waits on.
    pub(super) tools_changed: tokio::sync::watch::Sender<u64>,
    /// The resources that 2025 clients subscribed to (`resources/subscribe`): the
    /// client's session (its peer info, the same for all its requests), its peer, and
    /// the URI.
    pub(super) resource_subscriptions: Mutex<Vec<ResourceSubscription>>,
    /// The log level each 2025 session set (`logging/setLevel`), by session.
    #[allow(deprecated)]
    pub(super) log_levels: Mutex<Vec<(usize, rmcp::model::LoggingLevel)>>,
    /// The tool calls that became tasks (2026-07-28 clients with the Tasks extension).
    pub(super) tasks: rmcp::task_manager::TaskManager,
    /// One permit for each task that may run at once ([`super::tasks::MAX_RUNNING`]).
    pub(super) task_slots: Arc<tokio::sync::Semaphore>,
}

/// One client's subscription to one resource.
pub(super) struct ResourceSubscription {
    /// The client's session, to tell its subscriptions apart from others'.
    pub(super) session: usize,
    pub(super) peer: Peer<RoleServer>,
    pub(super) uri: String,
}

/// How long a client's request for the tool list waits for the tools to be listed
/// again before it is answered from the last listing.
pub(super) const LIST_WAIT: Duration = Duration::from_secs(2);

/// The least time between two audit records of one tool's changing definition.
pub(super) const AUDIT_CHANGES_EVERY: Duration = Duration::from_secs(60);

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
        crate::runtime::release_freed_memory();
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
                mrtr: Default::default(),
                tools_changed: tokio::sync::watch::Sender::new(0),
                resource_subscriptions: Mutex::new(Vec::new()),
                log_levels: Mutex::new(Vec::new()),
                tasks: Default::default(),
                task_slots: Arc::new(tokio::sync::Semaphore::new(super::tasks::MAX_RUNNING)),
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
    pub(super) fn audit_withheld(&self, registry: &Registry) {
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
    pub(super) async fn refresh_within(&self, wait: Duration) {
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
    pub(super) fn swap(&self, fresh: Registry, refresh: bool) {
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
        self.notify_resources_updated(&old, &new);
    }

    /// Tell each client subscribed to a resource whose plugin changed (an update, a
    /// removal) that it was updated: Pincer does not know when a plugin's resource
    /// changes otherwise, so a client that must stay current reads it again.
    fn notify_resources_updated(&self, old: &Registry, new: &Registry) {
        // The plugin's version and component: what an update or a removal changes.
        let component = |r: &Registry, uri: &str| {
            r.resources.get(uri).map(|e| {
                (
                    e.plugin.manifest().plugin.version.to_string(),
                    e.plugin.load_report().sha256.clone(),
                )
            })
        };
        let mut subscriptions = self
            .shared
            .resource_subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subscriptions.retain(|s| !s.peer.is_transport_closed());
        for s in subscriptions.iter() {
            if component(old, &s.uri) == component(new, &s.uri) {
                continue;
            }
            let (peer, uri) = (s.peer.clone(), s.uri.clone());
            tokio::spawn(async move {
                let params = rmcp::model::ResourceUpdatedNotificationParam::new(uri);
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    peer.notify_resource_updated(params),
                )
                .await;
            });
        }
    }

    pub(super) fn notify_tools_changed(&self) {
        // Clients that listen (2026-07-28) are told through their subscription.
        self.shared
            .tools_changed
            .send_modify(|generation| *generation += 1);
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

    pub(super) fn registry(&self) -> Arc<Registry> {
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
        // The old registry's plugins are gone once their last call ends; what their
        // loading freed can go back now.
        crate::runtime::release_freed_memory();
        true
    }
}

pub(super) fn fault_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

pub(super) fn not_found(what: &str, name: &str, list: &str) -> ErrorData {
    ErrorData::invalid_params(format!("unknown {what} `{name}` (see {list})"), None)
}

/// A call's output as an MCP result: a fault, a busy plugin or bad arguments become an
/// `isError` result that says why, and the server goes on.
pub(super) fn tool_result(
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
    pub(super) fn checked<'r>(
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
            .call_tool_ready(&entry.tool, &arguments, None, None)
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
    pub(super) fn recycle_later(&self, plugin: &Arc<Plugin>, spent: crate::runtime::Spent) {
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

impl Server {
    /// A tool call of a client of a revision without server-sent requests
    /// (2026-07-28): the plugin's questions are answered by multi round-trip requests
    /// ([`super::approver::mrtr`]). A retry brings back the state of the round before
    /// and the person's answer; a question without an answer ends the call and asks
    /// the client.
    pub(super) async fn call_tool_mrtr(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<RoleServer>,
        entry: &Entry,
        arguments: String,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        use super::approver::{self, CannotAsk, mrtr};
        let can_ask = approver::client_can_ask(&context);
        // Log lines reach the client only when the request asked for a level.
        let (log, lines) = super::handler::request_log(&context);
        let relay = |call| async {
            match lines {
                Some(lines) => {
                    super::handler::relaying_log(call, lines, &context.peer, entry.plugin.id())
                        .await
                }
                None => call.await,
            }
        };
        if !can_ask {
            let call = entry.plugin.call_tool_ready(
                &entry.tool,
                &arguments,
                Some(Arc::new(CannotAsk)),
                log,
            );
            let call = relay(call);
            tokio::pin!(call);
            let output = tokio::select! {
                (output, spent) = &mut call => {
                    self.recycle_later(&entry.plugin, spent);
                    output
                }
                _ = context.ct.cancelled() => {
                    return Ok(fault_result(format!("the call to `{}` was cancelled", request.name)).into());
                }
            };
            return Ok(tool_result(output).into());
        }
        let binding = mrtr::binding(
            entry.plugin.id(),
            &entry.plugin.load_report().sha256,
            &request.name,
            &serde_json::Value::Object(request.arguments.clone().unwrap_or_default()),
        );
        let answered = match &request.request_state {
            None => Vec::new(),
            Some(state) => self
                .shared
                .mrtr
                .redeem(state, request.input_responses.as_ref(), &binding)
                .map_err(|refused| {
                    tracing::warn!(plugin = %entry.plugin.id(), tool = %request.name, "{refused}");
                    ErrorData::invalid_params(refused.to_string(), None)
                })?,
        };
        let (approver, mut unanswered) = mrtr::Answering::round(answered.clone());
        let call = entry
            .plugin
            .call_tool_ready(&entry.tool, &arguments, Some(approver), log);
        let call = relay(call);
        tokio::pin!(call);
        // A question without an answer ends the call: its store is dropped (the
        // instance stops at its next yield point) and the client is asked.
        let asked = tokio::select! {
            (output, spent) = &mut call => {
                self.recycle_later(&entry.plugin, spent);
                return Ok(tool_result(output).into());
            }
            Some(asked) = unanswered.recv() => asked,
            _ = context.ct.cancelled() => {
                return Ok(fault_result(format!("the call to `{}` was cancelled", request.name)).into());
            }
        };
        let (question, digest, ttl, _ended) = asked;
        Ok(self
            .shared
            .mrtr
            .ask(question, digest, answered, ttl, &binding)
            .into())
    }
}
