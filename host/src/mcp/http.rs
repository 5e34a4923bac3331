//! `pincer mcp --http 127.0.0.1:PORT`: Streamable HTTP at `/mcp`, for MCP clients that
//! connect over HTTP. The gateway (`pincer serve`) mounts the same endpoint.
//!
//! Loopback only. Every request passes the checks of [`crate::gateway::guard`] (Host,
//! Origin, bearer token) before rmcp sees it. The token is 256 random bits made at
//! start, printed once and written to `$PINCER_HOME/run/mcp-http.json` (mode 0600).
//! Sessions (`Mcp-Session-Id`) are rmcp's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::Server;
use crate::gateway::guard::{self, Guard};

/// Where the running server's URL and token are written, relative to `$PINCER_HOME`.
pub const TOKEN_FILE: &str = "run/mcp-http.json";

/// The largest request body, as rmcp's own limit.
const MAX_BODY: usize = 4 << 20;

/// Request headers a browser on an allowed origin may send.
pub(crate) const PREFLIGHT_HEADERS: &str =
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id";

/// The MCP endpoint's own middleware, after the guard: the body limit, answered with
/// 413 and a sentence rather than rmcp's bare error.
pub(crate) async fn body_limit(request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {MAX_BODY} bytes\n"),
                )
                    .into_response()
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read\n",
                )
                    .into_response()
            };
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The MCP service for `server`, to mount at `/mcp` behind `guard`; it stops when
/// `stop` is cancelled.
pub(crate) fn service(
    server: Server,
    guard: &Guard,
    stop: &CancellationToken,
) -> StreamableHttpService<Server, LocalSessionManager> {
    // rmcp checks Host and Origin again: the same lists, defence in depth.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(guard.hosts().to_vec())
        .with_allowed_origins(guard.origins().to_vec())
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY)
        .with_cancellation_token(stop.child_token());
    StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}

/// Serve `server` at `http://ADDR/mcp` until Ctrl-C or SIGTERM.
pub(super) async fn serve(
    server: Server,
    addr: SocketAddr,
    allowed_origins: Vec<String>,
) -> Result<(), String> {
    guard::loopback_only("--http", addr, "MCP")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let (guard, token) = Guard::new(local, &allowed_origins, PREFLIGHT_HEADERS)?;
    let url = format!("http://{local}/mcp");
    let runtime = server.shared.runtime.clone();
    let home = runtime.home();
    let written = serde_json::json!({ "url": url, "token": token, "pid": std::process::id() });
    guard::write_token_file(home, TOKEN_FILE, &written)?;

    let stop = CancellationToken::new();
    let service = service(server, &guard, &stop);
    let app = axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(guard),
            guard::check,
        ));

    eprintln!("serving MCP over Streamable HTTP at {url}");
    eprintln!(
        "bearer token (shown once; also in {}): {token}",
        home.join(TOKEN_FILE).display()
    );
    eprintln!("stop with Ctrl-C");
    let result = axum::serve(no_delay(listener), app)
        .with_graceful_shutdown(async move {
            guard::shutdown_signal().await;
            stop.cancel();
        })
        .await
        .map_err(|e| format!("the HTTP server failed: {e}"));
    guard::remove_token_file(home, TOKEN_FILE, &token);
    result
}

/// The listener with TCP_NODELAY on every connection. Responses go out as several
/// small writes (an SSE event, then the end of the stream): without it, Nagle and
/// delayed ACKs add 40 ms to each.
pub(crate) fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Addr = SocketAddr> {
    use axum::serve::ListenerExt as _;
    listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    })
}
