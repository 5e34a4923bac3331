//! An MCP server on 127.0.0.1 for the `remote` adapter to reach, in its own thread and
//! runtime: tools that the test may change at any moment (as a remote server can), an
//! optional bearer token, and a count of the requests it refused for their token.
//! Shared by the tests that need it (`crate::remote_mcp`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::response::IntoResponse as _;
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

/// A tool as the remote server lists it.
pub fn tool(name: &str, description: &str, schema: Value) -> Tool {
    Tool::new_with_raw(
        name.to_owned(),
        Some(description.to_owned().into()),
        Arc::new(schema.as_object().expect("a schema object").clone()),
    )
}

/// The server's first tool: `add`, two integers.
pub fn add_tool() -> Tool {
    tool(
        "add",
        "Adds two integers.",
        json!({
            "type": "object",
            "properties": { "a": { "type": "integer" }, "b": { "type": "integer" } },
            "required": ["a", "b"]
        }),
    )
}

#[derive(Clone)]
struct Upstream {
    tools: Arc<Mutex<Vec<Tool>>>,
}

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.tools.lock().unwrap().clone(),
        ))
    }

    /// `add` sums `a`, `b` (and `c` if given); `multiply` multiplies `a` and `b`.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if !self
            .tools
            .lock()
            .unwrap()
            .iter()
            .any(|t| t.name == request.name)
        {
            return Err(ErrorData::invalid_params(
                format!("no tool {}", request.name),
                None,
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let n = |k: &str| args.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
        let answer = match &*request.name {
            "multiply" => n("a") * n("b"),
            _ => n("a") + n("b") + n("c"),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(answer.to_string())]).into())
    }
}

/// The running server.
pub struct RemoteMcp {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Requests refused for a missing or wrong token.
    pub refused: Arc<AtomicUsize>,
    tools: Arc<Mutex<Vec<Tool>>>,
}

impl RemoteMcp {
    /// Start a server listing [`add_tool`], asking for `Bearer TOKEN` if `token` is
    /// given. It stops with the test process.
    pub fn start(token: Option<&'static str>) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let refused = Arc::new(AtomicUsize::new(0));
        let tools = Arc::new(Mutex::new(vec![add_tool()]));
        let (refused2, tools2) = (refused.clone(), tools.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                let service = StreamableHttpService::new(
                    move || {
                        Ok(Upstream {
                            tools: tools2.clone(),
                        })
                    },
                    Arc::new(LocalSessionManager::default()),
                    StreamableHttpServerConfig::default(),
                );
                let app = axum::Router::new().route_service("/mcp", service).layer(
                    axum::middleware::from_fn(
                        move |request: axum::extract::Request, next: axum::middleware::Next| {
                            let refused = refused2.clone();
                            async move {
                                let ok = token.is_none_or(|token| {
                                    request
                                        .headers()
                                        .get("authorization")
                                        .is_some_and(|v| v == &format!("Bearer {token}")[..])
                                });
                                if ok {
                                    next.run(request).await
                                } else {
                                    refused.fetch_add(1, Ordering::SeqCst);
                                    axum::http::StatusCode::UNAUTHORIZED.into_response()
                                }
                            }
                        },
                    ),
                );
                axum::serve(listener, app).await.unwrap();
            });
        });
        RemoteMcp {
            port: rx.recv().unwrap(),
            refused,
            tools,
        }
    }

    /// The server's MCP endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// Change the tools listed from now on.
    pub fn edit_tools(&self, edit: impl FnOnce(&mut Vec<Tool>)) {
        edit(&mut self.tools.lock().unwrap());
    }
}
