//! The MCP server (`pincer mcp`): the tools of every installed, approved `mcp-server`
//! plugin, served with `rmcp` over stdio.
//!
//! A tool is named `<alias>__<tool>`, the alias being the last segment of the plugin's
//! id. Descriptions and schemas pass through unchanged. A plugin's own error is an
//! `isError` result with its message; a plugin fault (trap, timeout, memory) is an
//! `isError` result that names the fault, and the server goes on. A cancelled request
//! stops waiting for its call at once.
//!
//! This module owns the tool registry and the protocol handler; it never runs a plugin
//! that `Runtime::load_installed` refused.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
// `logging/setLevel` is deprecated after 2025-11-25 (SEP-2577), but the versions this
// server speaks have it.
#[allow(deprecated)]
use rmcp::model::SetLevelRequestParams;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
    Tool,
};
use rmcp::service::{RequestContext, RoleServer};

use crate::kinds::mcp::{ContentItem, ToolInfo};
use crate::manifest::PluginKind;
use crate::runtime::{Plugin, Runtime};
use crate::store::plugins::PluginStore;

/// Protocol versions this server speaks.
pub const PROTOCOL_VERSIONS: [ProtocolVersion; 2] =
    [ProtocolVersion::V_2025_06_18, ProtocolVersion::V_2025_11_25];

/// The separator between a plugin's alias and its tool's name.
pub const SEPARATOR: &str = "__";

/// One exposed tool.
struct Entry {
    plugin: Arc<Plugin>,
    tool: String,
    info: Tool,
    /// The tool's input schema, compiled: arguments are checked before the plugin runs.
    validator: jsonschema::Validator,
}

/// Every tool of the loaded plugins, by exposed name.
pub struct Registry {
    tools: BTreeMap<String, Entry>,
    /// Plugins that could not be served, with the reason (already audited).
    pub skipped: Vec<(String, String)>,
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

impl Registry {
    /// Load every installed `mcp-server` plugin (verified again by the runtime) and
    /// list its tools. A plugin that is refused or whose tools are malformed is skipped
    /// with the reason; a name that two plugins would both expose is refused for both.
    pub async fn load(runtime: &Runtime) -> Result<Self, crate::store::plugins::StoreError> {
        let mut tools = BTreeMap::new();
        let mut skipped = Vec::new();
        for installed in PluginStore::new(runtime.home()).list()? {
            if installed.active.grants.kind != PluginKind::McpServer.as_str() {
                continue;
            }
            let id = installed.id.clone();
            let plugin = match runtime.load_installed(&id) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    skipped.push((id, e.to_string()));
                    continue;
                }
            };
            let list = match plugin.list_tools().await {
                Ok(list) => list,
                Err(e) => {
                    skipped.push((id, e.to_string()));
                    continue;
                }
            };
            let alias = plugin.manifest().plugin.id.last_segment().replace('.', "-");
            for info in list {
                let name = format!("{alias}{SEPARATOR}{}", info.name);
                if !valid_tool_name(&name) || info.description.trim().is_empty() {
                    skipped.push((
                        id.clone(),
                        format!(
                            "tool `{name}` is not served: MCP tool names are 1 to 64 of a-z, A-Z, 0-9, `_`, `-`, and every tool needs a description"
                        ),
                    ));
                    continue;
                }
                let validator = match jsonschema::validator_for(&info.input_schema) {
                    Ok(v) => v,
                    Err(e) => {
                        skipped.push((
                            id.clone(),
                            format!(
                                "tool `{name}` is not served: its input schema is invalid: {e}"
                            ),
                        ));
                        continue;
                    }
                };
                if tools.contains_key(&name) {
                    skipped.push((
                        id.clone(),
                        format!("tool `{name}` is exposed by another plugin already"),
                    ));
                    continue;
                }
                tools.insert(
                    name.clone(),
                    Entry {
                        plugin: plugin.clone(),
                        tool: info.name.clone(),
                        info: tool_model(&name, &info),
                        validator,
                    },
                );
            }
        }
        Ok(Registry { tools, skipped })
    }

    /// The exposed tool names.
    pub fn names(&self) -> Vec<&str> {
        self.tools.keys().map(String::as_str).collect()
    }
}

/// The MCP protocol handler over a registry.
#[derive(Clone)]
pub struct Server {
    registry: Arc<Registry>,
}

impl Server {
    /// A server for `registry`.
    pub fn new(registry: Registry) -> Self {
        Server {
            registry: Arc::new(registry),
        }
    }
}

fn fault_result(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

impl ServerHandler for Server {
    #[allow(deprecated)] // logging: see the import of SetLevelRequestParams
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
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

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.registry
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
        let Some(entry) = self.registry.tools.get(request.name.as_ref()) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{}` (see tools/list)", request.name),
                None,
            ));
        };
        let arguments = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
        // Checked by a JSON Schema validator before the plugin runs; the model reads why.
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
            return Ok(fault_result(format!(
                "the arguments of `{}` do not match its input schema: {}",
                request.name,
                problems.join("; ")
            ))
            .into());
        }
        let arguments = arguments.to_string();
        let call = entry.plugin.call_tool(&entry.tool, &arguments);
        let output = tokio::select! {
            output = call => output,
            _ = context.ct.cancelled() => {
                return Ok(fault_result(format!("the call to `{}` was cancelled", request.name)).into());
            }
        };
        let result = match output {
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
            // A fault, a busy plugin or bad arguments: the client reads why, the server
            // goes on.
            Err(e) => fault_result(e.to_string()),
        };
        Ok(result.into())
    }
}

/// The service the transports run: [`Server`], except that `server/discover` (the
/// stateless handshake of protocol versions after 2025-11-25, which this server does
/// not speak) is an unknown method, answered -32601 at once as clients that probe it
/// expect, instead of rmcp's -32602 for a probe without its metadata.
pub struct Front(Server);

impl rmcp::Service<RoleServer> for Front {
    async fn handle_request(
        &self,
        request: rmcp::model::ClientRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ServerResult, ErrorData> {
        if matches!(request, rmcp::model::ClientRequest::DiscoverRequest(_)) {
            return Err(ErrorData::method_not_found::<
                rmcp::model::DiscoverRequestMethod,
            >());
        }
        rmcp::Service::handle_request(&self.0, request, context).await
    }

    async fn handle_notification(
        &self,
        notification: rmcp::model::ClientNotification,
        context: rmcp::service::NotificationContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        rmcp::Service::handle_notification(&self.0, notification, context).await
    }

    fn get_info(&self) -> ServerConfig {
        ServerHandler::get_info(&self.0)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        ServerHandler::supported_protocol_versions(&self.0)
    }
}

/// Serve `registry` on stdin/stdout until the client closes stdin.
pub async fn serve_stdio(registry: Registry) -> Result<(), String> {
    use rmcp::ServiceExt as _;
    let running = Front(Server::new(registry))
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP session did not start: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("the MCP session failed: {e}"))?;
    Ok(())
}
