//! The localhost gateway (`pincer serve`): the desktop app's door into Pincer, an HTTP
//! API under `/v1` and the MCP Streamable HTTP endpoint at `/mcp`, both behind the
//! [`guard`] (Host, Origin, bearer token checked on every request).
//!
//! Loopback only. At start it makes a 256-bit session token and writes it with the port
//! to `$PINCER_HOME/run/gateway.json` (mode 0600). Errors have one shape,
//! `{"error": {"code": "...", "message": "..."}}`, except the 401, which says nothing.
//! Ctrl-C or SIGTERM stops accepting connections and lets calls in flight finish.
//! The API is described in `docs/gateway.md` and served as OpenAPI at
//! `/v1/openapi.json`.

pub mod approvals;
pub mod guard;
pub mod openapi;
mod recordings;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use std::collections::HashMap;

use crate::mcp::{Fingerprint, Server};
use crate::runtime::{Plugin, Runtime};
use crate::store::plugins::PluginStore;
use guard::{Guard, error_response};

/// Where the running gateway's URL, port and token are written, relative to
/// `$PINCER_HOME`.
pub const TOKEN_FILE: &str = "run/gateway.json";

/// The largest request body the API takes (a recorder frame is the largest thing a
/// client sends).
pub const MAX_BODY: usize = 8 << 20;

/// Headers a browser page on an allowed origin may send.
const PREFLIGHT_HEADERS: &str =
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id";

/// How `pincer serve` listens.
#[derive(Debug, Clone)]
pub struct Options {
    /// The loopback address and port (port 0: any free port).
    pub addr: SocketAddr,
    /// Browser origins allowed to call the gateway.
    pub allowed_origins: Vec<String>,
}

#[derive(Clone)]
struct App {
    runtime: Arc<Runtime>,
    mcp: Server,
    /// Plugins loaded for chat and recordings, with what their install record and the
    /// trust store looked like then. A recorder's session lives in its loaded plugin,
    /// so the same one must serve every request until the plugin changes.
    loaded: Arc<tokio::sync::Mutex<Loaded>>,
    /// Approval questions waiting for an answer through the API.
    approvals: Arc<approvals::Approvals>,
    /// The recording each recorder is recording now.
    recording: Arc<std::sync::Mutex<HashMap<String, String>>>,
}

/// Plugins by id, with the fingerprint they were loaded under.
type Loaded = HashMap<String, (Fingerprint, Arc<Plugin>)>;

/// An API error: a status, a stable code and a message that says what to do.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, &self.message)
    }
}

/// A JSON body whose rejections (too large, not JSON, wrong shape) are API errors.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::new(
                status,
                "too_large",
                format!("the request body is larger than {MAX_BODY} bytes"),
            );
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_request",
    };
    ApiError::new(status, code, rejection.body_text())
}

/// Serve until Ctrl-C or SIGTERM. Plugins' `ask` approvals (outside MCP, where the
/// client is asked) wait in `approvals` for an answer through `/v1/approvals`: make
/// the runtime with it as its approver.
pub async fn serve(
    runtime: Arc<Runtime>,
    approvals: Arc<approvals::Approvals>,
    options: Options,
) -> Result<(), String> {
    serve_until(runtime, approvals, options, guard::shutdown_signal()).await
}

/// [`serve`] until `shutdown` completes (the demo stops its gateway this way).
pub async fn serve_until(
    runtime: Arc<Runtime>,
    approvals: Arc<approvals::Approvals>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    guard::loopback_only("--bind", options.addr, "the gateway")?;
    let mcp = Server::start(
        runtime.clone(),
        Vec::new(),
        crate::mcp::DEFAULT_TOOLS_REFRESH,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", options.addr))?;
    let (guard, token) = Guard::new(local, &options.allowed_origins, PREFLIGHT_HEADERS)?;
    let url = format!("http://{local}");
    let home = runtime.home();
    let written = json!({
        "url": url, "port": local.port(), "token": token, "pid": std::process::id(),
    });
    guard::write_token_file(home, TOKEN_FILE, &written)?;

    let stop = CancellationToken::new();
    let mcp_service = crate::mcp::http::service(mcp.clone(), &guard, &stop);
    let app = App {
        runtime: runtime.clone(),
        mcp,
        loaded: Arc::default(),
        approvals,
        recording: Arc::default(),
    };
    let api = axum::Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/plugins", get(plugins))
        .route("/v1/tools", get(tools))
        .route("/v1/tools/{name}/call", post(call_tool))
        .route("/v1/audit", get(audit))
        .route("/v1/chat", post(chat))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/approvals/{id}", post(approvals::answer))
        .route("/v1/recordings/start", post(recordings::start))
        .route("/v1/recordings/events", post(recordings::event))
        .route("/v1/recordings/frames", post(recordings::frame_in))
        .route("/v1/recordings/stop", post(recordings::stop))
        .route("/v1/recordings", get(recordings::list))
        .route(
            "/v1/recordings/{id}",
            get(recordings::info).delete(recordings::delete),
        )
        .route("/v1/recordings/{id}/timeline", get(recordings::timeline))
        .route("/v1/recordings/{id}/frame", get(recordings::frame_at))
        .route(
            "/v1/recordings/{id}/frames/{index}",
            get(recordings::frame_by_index),
        )
        .route("/v1/recordings/{id}/map-input", post(recordings::map_input))
        .fallback(unknown)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app);
    let router = axum::Router::new()
        .route_service("/mcp", mcp_service)
        .layer(axum::middleware::from_fn(crate::mcp::http::body_limit))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(guard),
            guard::check,
        ));

    eprintln!("Pincer gateway at {url} (API under /v1, MCP at /mcp)");
    eprintln!(
        "session token (shown once; also in {}): {token}",
        home.join(TOKEN_FILE).display()
    );
    eprintln!("stop with Ctrl-C");
    let result = axum::serve(crate::mcp::http::no_delay(listener), router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            eprintln!("stopping: finishing the requests in flight");
            stop.cancel();
        })
        .await
        .map_err(|e| format!("the gateway failed: {e}"));
    guard::remove_token_file(home, TOKEN_FILE, &token);
    result
}

async fn unknown(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint {} {} (see /v1/openapi.json)",
        request.method(),
        request.uri().path()
    ))
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true, "version": env!("CARGO_PKG_VERSION") }))
}

async fn openapi() -> Json<Value> {
    Json(openapi::document())
}

async fn plugins(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let runtime = app.runtime.clone();
    let list = tokio::task::spawn_blocking(move || PluginStore::new(runtime.home()).list())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let plugins: Vec<Value> = list
        .iter()
        .map(|p| crate::admin::installed::InstalledSummary::of(p).to_json())
        .collect();
    Ok(Json(json!({ "plugins": plugins })))
}

async fn tools(State(app): State<App>) -> Json<Value> {
    let tools: Vec<Value> = app
        .mcp
        .tools()
        .await
        .into_iter()
        .map(|(name, plugin, tool)| {
            json!({
                "name": name,
                "plugin": plugin,
                "description": tool.description,
                "input_schema": tool.input_schema,
                "output_schema": tool.output_schema,
            })
        })
        .collect();
    Json(json!({ "tools": tools }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    #[serde(default)]
    arguments: Option<serde_json::Map<String, Value>>,
}

async fn call_tool(
    State(app): State<App>,
    Path(name): Path<String>,
    Body(body): Body<CallBody>,
) -> Result<Json<Value>, ApiError> {
    let result = app
        .mcp
        .call_direct(&name, body.arguments)
        .await
        .map_err(|e| ApiError::not_found(e.message.to_string()))?;
    let value = serde_json::to_value(&result).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(value))
}

/// (`flatten` and `deny_unknown_fields` do not combine in serde: extra fields are
/// ignored here.)
#[derive(Deserialize)]
struct ChatBody {
    /// The chat plugin.
    plugin: String,
    #[serde(flatten)]
    request: crate::kinds::chat::ChatRequest,
}

/// An installed, approved plugin, loaded (verified again) on the blocking pool the
/// first time and whenever its install record or the trust store changed since;
/// otherwise the plugin loaded before.
async fn load(app: &App, id: &str) -> Result<Arc<Plugin>, ApiError> {
    let runtime = app.runtime.clone();
    let owned = id.to_owned();
    let now = tokio::task::spawn_blocking(move || {
        PluginStore::new(runtime.home())
            .get(&owned)
            .map(|found| found.map(|p| Fingerprint::of(runtime.home(), &[p])))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    // Held only to look up, or to load a changed plugin once: requests for plugins
    // that did not change do not wait for each other's disk reads.
    let mut loaded = app.loaded.lock().await;
    let Some(now) = now else {
        loaded.remove(id);
        return Err(ApiError::not_found(format!(
            "no plugin `{id}` is installed (see GET /v1/plugins)"
        )));
    };
    if let Some((then, plugin)) = loaded.get(id)
        && *then == now
    {
        return Ok(plugin.clone());
    }
    let runtime = app.runtime.clone();
    let owned = id.to_owned();
    let plugin = tokio::task::spawn_blocking(move || runtime.load_installed(&owned))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| match e {
            crate::runtime::LoadError::NotInstalled { .. } => ApiError::not_found(format!(
                "no plugin `{id}` is installed (see GET /v1/plugins)"
            )),
            e => ApiError::new(StatusCode::CONFLICT, "not_loadable", e.to_string()),
        })?;
    let plugin = Arc::new(plugin);
    loaded.insert(id.to_owned(), (now, plugin.clone()));
    Ok(plugin)
}

/// A call that did not reach an answer: the plugin is of another kind, faulted, or is
/// busy.
fn call_error(e: crate::runtime::CallError) -> ApiError {
    use crate::runtime::CallError;
    match e {
        CallError::WrongKind { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, "wrong_kind", e.to_string())
        }
        CallError::Busy { .. } | CallError::HostBusy { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
        }
        CallError::Fault { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "plugin_fault", e.to_string())
        }
        other => ApiError::internal(other.to_string()),
    }
}

async fn chat(State(app): State<App>, Body(body): Body<ChatBody>) -> Result<Response, ApiError> {
    use crate::kinds::chat::ChatFailure;
    let plugin = load(&app, &body.plugin).await?;
    let answer = plugin.complete(&body.request).await.map_err(call_error)?;
    let failure = match answer {
        Ok(reply) => return Ok(Json(reply).into_response()),
        Err(failure) => failure,
    };
    let message = failure.to_string();
    let mut response = match &failure {
        ChatFailure::InvalidRequest(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "chat_invalid_request", message)
        }
        ChatFailure::Unauthorized(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "chat_unauthorized", message)
        }
        ChatFailure::RateLimited(_) => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "chat_rate_limited", message)
        }
        ChatFailure::Provider(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "chat_provider", message)
        }
        ChatFailure::Denied(_) => ApiError::new(StatusCode::BAD_GATEWAY, "chat_denied", message),
    }
    .into_response();
    if let ChatFailure::RateLimited(Some(seconds)) = failure {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Records with a sequence number greater than this.
    #[serde(default)]
    since: u64,
    /// At most this many.
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    1000
}

async fn audit(
    State(app): State<App>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{}: use ?since=SEQ&limit=N", e.body_text()),
        )
    })?;
    let runtime = app.runtime.clone();
    let (records, _torn) = tokio::task::spawn_blocking(move || {
        runtime.audit().flush();
        runtime.audit().read()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| r.seq > query.since)
        .take(query.limit.min(10_000))
        .collect();
    let next = records.last().map_or(query.since, |r| r.seq);
    Ok(Json(json!({ "records": records, "next": next })))
}
