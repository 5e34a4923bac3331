//! The MCP protocol handler: each request of a client, answered from the registry and
//! the plugins.

use std::borrow::Cow;

use base64::Engine as _;
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
// `logging/setLevel` is deprecated after 2025-11-25 (SEP-2577), but the versions this
// server speaks have it.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
// `resources/subscribe` too; 2026-07-28 listens instead.
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Implementation, ListPromptsResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, PromptMessage, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ResourceContents, Role, ServerCapabilities,
    ServerConfig, SubscriptionFilter,
};
use rmcp::model::{CancelTaskParams, GetTaskParams, GetTaskResult, UpdateTaskParams};
#[allow(deprecated)]
use rmcp::model::{SubscribeRequestParams, UnsubscribeRequestParams};
use rmcp::service::{NotificationContext, RequestContext, RoleServer, SubscriptionContext};

use super::server::{
    LIST_WAIT, ResourceSubscription, Server, fault_result, not_found, tool_result,
};
use super::{PROTOCOL_VERSIONS, approver};

impl ServerHandler for Server {
    #[allow(deprecated)] // logging: see the import of SetLevelRequestParams
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_logging()
                .enable_tasks()
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

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // The tool list is what changes (installs, updates, removals, a remote
        // server's refresh); prompts and resources are listed again on each request.
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let mut changes = self.shared.tools_changed.subscribe();
        changes.mark_unchanged();
        loop {
            tokio::select! {
                _ = context.cancelled() => return Ok(()),
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    // A client that stopped reading must not hold up this stream; one
                    // that is gone ends it.
                    let sent = tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        context.sink().notify_tool_list_changed(),
                    )
                    .await;
                    if matches!(sent, Ok(Err(_))) {
                        return Ok(());
                    }
                }
            }
        }
    }

    #[allow(deprecated)] // resources/subscribe is 2025's; 2026-07-28 listens instead
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if !self.registry().resources.contains_key(&request.uri) {
            return Err(unknown_resource(&request.uri));
        }
        let session = session_of(&context);
        let mut subscriptions = self
            .shared
            .resource_subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if !subscriptions
            .iter()
            .any(|s| s.session == session && s.uri == request.uri)
        {
            subscriptions.push(ResourceSubscription {
                session,
                peer: context.peer.clone(),
                uri: request.uri,
            });
        }
        Ok(())
    }

    #[allow(deprecated)] // see subscribe
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let session = session_of(&context);
        self.shared
            .resource_subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| !(s.session == session && s.uri == request.uri));
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut peers = self.shared.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer);
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        // rmcp checks a call's `Mcp-Param-*` headers (SEP-2243) against the tool's
        // `x-mcp-header` annotations.
        self.registry().tools.get(name).map(|e| e.info.clone())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // What the model is about to read must be what an admin approved now, not at
        // the last refresh: a remote server may have changed since.
        self.refresh_within(LIST_WAIT).await;
        // In name order (the registry's), the same for every client.
        let list = ListToolsResult::with_all_items(
            self.registry()
                .tools
                .values()
                .map(|e| e.info.clone())
                .collect(),
        );
        // Cache hints are 2026-07-28's (SEP-2549); an older client keeps asking, and
        // each ask lists the tools again. For a 2026-07-28 client: the list changes at
        // an install, update or removal, which its `subscriptions/listen` stream is
        // told of, and when a plugin's tools are listed again, every `tools_refresh`;
        // so it may keep the list that long. It is this host's, not for caches shared
        // across users.
        if context
            .protocol_version()
            .is_some_and(|v| !v.has_initialize())
        {
            return Ok(list
                .with_ttl_ms(self.shared.tools_refresh.as_millis() as u64)
                .with_cache_scope(CacheScope::Private));
        }
        Ok(list)
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        // Plugin log lines during this session's tool calls reach it at or above this
        // level (and the host's log, as always).
        let session = session_of(&context);
        let mut levels = self
            .shared
            .log_levels
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        levels.retain(|(s, _)| *s != session);
        levels.push((session, request.level));
        Ok(())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The call's future (instantiation, the plugin's call, approvals) is large, and
        // rmcp runs each request as a task whose future holds this one: boxed, tokio
        // moves a pointer into and out of the task instead of copying it all.
        Box::pin(self.call_tool_now(request, context)).await
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Ok(GetTaskResult::new(
            self.shared.tasks.get_task(&request.task_id)?,
        ))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.shared
            .tasks
            .update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.shared.tasks.cancel_task(&request.task_id)
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
            return Err(unknown_resource(&request.uri));
        };
        let contents = entry
            .plugin
            .read_resource(&request.uri)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?
            .map_err(|why| {
                ErrorData::resource_not_found(why, Some(serde_json::json!({ "uri": request.uri })))
            })?;
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

/// The session a 2025 request belongs to: the address of the peer info its handshake
/// stored, which every request of that session shares.
fn session_of(context: &RequestContext<RoleServer>) -> usize {
    context
        .peer
        .peer_info()
        .map_or(0, |info| std::sync::Arc::as_ptr(&info) as usize)
}

// Logging is deprecated after 2025-11-25 (SEP-2577), but the versions this server
// speaks have it.
#[allow(deprecated)]
type McpLevel = rmcp::model::LoggingLevel;

/// A line a plugin logged during a call, for its client.
pub(super) type ClientLine = (McpLevel, String);

/// The level the session of `context` set, if it did.
fn log_level(server: &Server, context: &RequestContext<RoleServer>) -> Option<McpLevel> {
    let session = session_of(context);
    server
        .shared
        .log_levels
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(s, _)| *s == session)
        .map(|(_, level)| *level)
}

/// A sink for a 2026-07-28 call's log lines at the level its request asked for in
/// `_meta` (SEP-2575), and where they arrive; none without a level, as the client
/// then gets no log lines.
pub(super) fn request_log(
    context: &RequestContext<RoleServer>,
) -> (
    Option<crate::caps::log::LogSink>,
    Option<tokio::sync::mpsc::UnboundedReceiver<ClientLine>>,
) {
    match context.meta.log_level() {
        Some(level) => {
            let (sink, lines) = client_log(Some(level));
            (Some(sink), Some(lines))
        }
        None => (None, None),
    }
}

/// The severity of `level`, lowest first.
#[allow(deprecated)]
fn severity(level: McpLevel) -> u8 {
    use rmcp::model::LoggingLevel as L;
    match level {
        L::Debug => 0,
        L::Info => 1,
        L::Notice => 2,
        L::Warning => 3,
        L::Error => 4,
        L::Critical => 5,
        L::Alert => 6,
        L::Emergency => 7,
    }
}

/// A sink for a call's log lines at or above `level`, and where they arrive.
#[allow(deprecated)]
pub(super) fn client_log(
    level: Option<McpLevel>,
) -> (
    crate::caps::log::LogSink,
    tokio::sync::mpsc::UnboundedReceiver<ClientLine>,
) {
    use crate::caps::bindings::pincer::plugin::log::Level;
    use rmcp::model::LoggingLevel;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sink: crate::caps::log::LogSink = std::sync::Arc::new(move |plugin_level, text: &str| {
        let as_mcp = match plugin_level {
            Level::Trace | Level::Debug => LoggingLevel::Debug,
            Level::Info => LoggingLevel::Info,
            Level::Warn => LoggingLevel::Warning,
            Level::Error => LoggingLevel::Error,
        };
        if level.is_none_or(|min| severity(as_mcp) >= severity(min)) {
            let _ = tx.send((as_mcp, text.to_owned()));
        }
    });
    (sink, rx)
}

/// Send a plugin's log line to the client, bounded: a client that stopped reading
/// does not hold up the call.
#[allow(deprecated)]
pub(super) async fn send_log(
    peer: &rmcp::Peer<RoleServer>,
    logger: &str,
    (level, text): ClientLine,
) {
    let mut params =
        rmcp::model::LoggingMessageNotificationParam::new(level, serde_json::Value::String(text));
    params.logger = Some(logger.to_owned());
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        peer.notify_logging_message(params),
    )
    .await;
}

/// `call`, with the plugin's log lines that arrive on `lines` sent to `peer` while it
/// runs; the last of them reach the client before the result.
pub(super) async fn relaying_log<T>(
    call: impl Future<Output = T>,
    mut lines: tokio::sync::mpsc::UnboundedReceiver<ClientLine>,
    peer: &rmcp::Peer<RoleServer>,
    logger: &str,
) -> T {
    tokio::pin!(call);
    let output = loop {
        tokio::select! {
            output = &mut call => break output,
            Some(line) = lines.recv() => send_log(peer, logger, line).await,
        }
    };
    while let Ok(line) = lines.try_recv() {
        send_log(peer, logger, line).await;
    }
    output
}

/// The error for a resource URI that no served plugin offers (with the URI, SEP-2164).
fn unknown_resource(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!("unknown resource `{uri}` (see resources/list)"),
        Some(serde_json::json!({ "uri": uri })),
    )
}

impl Server {
    /// [`ServerHandler::call_tool`], unboxed.
    async fn call_tool_now(
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
        // A client of a revision without server-sent requests (2026-07-28) answers
        // approvals by retrying the call (multi round-trip requests).
        if context
            .protocol_version()
            .is_some_and(|v| !v.has_initialize())
        {
            // One that declared the Tasks extension gets a task for a long call; a
            // retry that carries an answer finishes the round it belongs to.
            let tasks = context
                .client_capabilities()
                .is_some_and(|c| c.supports_tasks());
            if tasks && request.request_state.is_none() && request.input_responses.is_none() {
                return self
                    .call_tool_task(request, context, entry, arguments)
                    .await;
            }
            return self
                .call_tool_mrtr(request, context, entry, arguments)
                .await;
        }
        let (approver, mut questions) = approver::for_peer(&context.peer);
        // The plugin's log lines go to the client too, as `notifications/message`, at
        // or above the level it set (all of them until it sets one).
        let (log, lines) = client_log(log_level(self, &context));
        let call = entry
            .plugin
            .call_tool_ready(&entry.tool, &arguments, Some(approver), Some(log));
        let call = relaying_log(call, lines, &context.peer, entry.plugin.id());
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
}
