//! `pincer mcp --http 127.0.0.1:PORT`: Streamable HTTP at `/mcp`, for MCP clients that
//! connect over HTTP.
//!
//! Loopback only. Every request passes Pincer's own checks before rmcp sees it, in
//! this order: a `Host` header naming this server (anything else is DNS rebinding:
//! 403), an `Origin` header, if any, on the admin's allowlist (a web page posting to
//! localhost: 403), and the bearer token, compared as HMAC-SHA256 digests in constant
//! time (401, no detail). The token is 256 random bits made at start, printed once and
//! written to `$PINCER_HOME/run/mcp-http.json` (mode 0600). Sessions
//! (`Mcp-Session-Id`) are rmcp's.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::Server;

/// Where the running server's URL and token are written, relative to `$PINCER_HOME`.
pub const TOKEN_FILE: &str = "run/mcp-http.json";

/// The largest request body, as rmcp's own limit.
const MAX_BODY: usize = 4 << 20;

/// The checks every request passes before the MCP service sees it.
struct Guard {
    /// `Host` values that name this server, lower case.
    hosts: Vec<String>,
    /// Browser origins the admin allowed, normalised.
    origins: Vec<String>,
    /// A per-process key; the token is compared as HMAC digests under it.
    key: [u8; 32],
    /// HMAC of the token under `key`.
    token_mac: Vec<u8>,
}

fn mac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

/// `origin` as browsers send it (`scheme://host[:port]`, lower case, no slash), or why
/// it is not one.
fn normalise_origin(origin: &str) -> Result<String, String> {
    let url = url::Url::parse(origin).map_err(|e| format!("`{origin}` is not an origin: {e}"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "`{origin}` is not an origin: write scheme://host[:port], such as http://localhost:5173"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

impl Guard {
    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        let Some(presented) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        // Equal-length digests compared in constant time: neither the token's length
        // nor its first wrong byte shows in the timing.
        mac(&self.key, presented.trim().as_bytes())
            .verify_slice(&self.token_mac)
            .is_ok()
    }

    /// Why `headers` are refused (status and a short reason), if they are.
    fn refuse(&self, headers: &HeaderMap) -> Option<(StatusCode, &'static str)> {
        if let Some(refused) = self.refuse_host_or_origin(headers) {
            return Some(refused);
        }
        if !self.bearer_ok(headers) {
            return Some((StatusCode::UNAUTHORIZED, ""));
        }
        None
    }

    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .ok()
            .and_then(|o| normalise_origin(o).ok())
            .is_some_and(|o| self.origins.contains(&o))
    }

    /// The Host and Origin checks alone: all a browser's CORS preflight can pass, since
    /// it never carries the token.
    fn refuse_host_or_origin(&self, headers: &HeaderMap) -> Option<(StatusCode, &'static str)> {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        if !host.is_some_and(|h| self.hosts.contains(&h)) {
            return Some((StatusCode::FORBIDDEN, "forbidden: foreign Host header\n"));
        }
        if let Some(origin) = headers.get(header::ORIGIN)
            && !self.origin_allowed(origin)
        {
            return Some((StatusCode::FORBIDDEN, "forbidden: Origin not allowed\n"));
        }
        None
    }
}

/// Let a page on an allowed origin read the response (and the session id).
fn allow_cross_origin(origin: Option<HeaderValue>, response: &mut Response) {
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("mcp-session-id"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    // Only an allowed origin is ever echoed back.
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| guard.origin_allowed(o))
        .cloned();
    // A browser's preflight for an allowed origin: what the real request may carry.
    if request.method() == axum::http::Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
    {
        if let Some((status, body)) = guard.refuse_host_or_origin(request.headers()) {
            return (status, body).into_response();
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        allow_cross_origin(origin, &mut response);
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id",
            ),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return response;
    }
    let mut response = guarded(&guard, request, next).await;
    allow_cross_origin(origin, &mut response);
    response
}

async fn guarded(guard: &Guard, request: Request, next: Next) -> Response {
    if let Some((status, body)) = guard.refuse(request.headers()) {
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        return response;
    }
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    // Look at the JSON-RPC message: a `server/discover` probe is answered here.
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
    if let Some(answer) = discover_answer(&bytes) {
        return (
            [(header::CONTENT_TYPE, "application/json")],
            answer.to_string(),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The "method not found" answer to a `server/discover` request in `body`, if it is one.
fn discover_answer(body: &[u8]) -> Option<serde_json::Value> {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow)]
        method: Option<&'a str>,
        id: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(body).ok()?;
    if probe.method != Some("server/discover") {
        return None;
    }
    let error = super::stdio::discover_not_found();
    Some(serde_json::json!({
        "jsonrpc": "2.0",
        "id": probe.id?,
        "error": { "code": error.code.0, "message": error.message },
    }))
}

/// Serve `server` at `http://ADDR/mcp` until Ctrl-C or SIGTERM.
pub(super) async fn serve(
    server: Server,
    addr: SocketAddr,
    allowed_origins: Vec<String>,
) -> Result<(), String> {
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--http {addr}: Pincer serves MCP on loopback only; use 127.0.0.1:PORT (a client on another machine would get every approved tool)"
        ));
    }
    let origins = allowed_origins
        .iter()
        .map(|o| normalise_origin(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--allow-origin: {e}"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let port = local.port();
    let hosts = match local.ip() {
        std::net::IpAddr::V4(ip) => vec![format!("{ip}:{port}"), format!("localhost:{port}")],
        std::net::IpAddr::V6(ip) => vec![format!("[{ip}]:{port}"), format!("localhost:{port}")],
    };
    // The server's own origin is allowed: it serves no page that could misuse it.
    let mut origins = origins;
    origins.extend(hosts.iter().map(|h| format!("http://{h}")));

    let mut token_bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut token_bytes);
    let token = hex::encode(token_bytes);
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let guard = Arc::new(Guard {
        hosts: hosts.clone(),
        origins: origins.clone(),
        token_mac: mac(&key, token.as_bytes()).finalize().into_bytes().to_vec(),
        key,
    });

    let url = format!("http://{local}/mcp");
    let runtime = server.shared.runtime.clone();
    let home = runtime.home();
    let written = serde_json::json!({ "url": url, "token": token, "pid": std::process::id() });
    home.create_dir_all("run").map_err(|e| e.to_string())?;
    home.write_atomic(TOKEN_FILE, written.to_string().as_bytes(), 0o600)
        .map_err(|e| e.to_string())?;

    let stop = CancellationToken::new();
    // rmcp checks Host and Origin again: the same lists, defence in depth.
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(MAX_BODY)
        .with_cancellation_token(stop.child_token());
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let app = axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(guard, check));

    eprintln!("serving MCP over Streamable HTTP at {url}");
    eprintln!(
        "bearer token (shown once; also in {}): {token}",
        home.join(TOKEN_FILE).display()
    );
    eprintln!("stop with Ctrl-C");
    // Responses go out as several small writes (an SSE event, then the end of the
    // stream): without TCP_NODELAY, Nagle and delayed ACKs add 40 ms to each.
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stop.cancel();
        })
        .await
        .map_err(|e| format!("the HTTP server failed: {e}"));
    // Another server may have started since and written its own token: leave it.
    let ours = home
        .read_optional(TOKEN_FILE)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["token"] == token.as_str());
    if ours {
        let _ = home.remove_file(TOKEN_FILE);
    }
    result
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        let key = [7u8; 32];
        Guard {
            hosts: vec!["127.0.0.1:8080".into(), "localhost:8080".into()],
            origins: vec!["http://localhost:5173".into()],
            token_mac: mac(&key, b"secret").finalize().into_bytes().to_vec(),
            key,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn host_origin_and_token_are_checked_in_order() {
        let g = guard();
        let ok = [
            ("host", "127.0.0.1:8080"),
            ("authorization", "Bearer secret"),
        ];
        assert_eq!(g.refuse(&headers(&ok)), None);
        let status = |pairs: &[(&'static str, &str)]| g.refuse(&headers(pairs)).map(|r| r.0);
        assert_eq!(status(&[("host", "LOCALHOST:8080"), ok[1]]), None);
        assert_eq!(
            status(&[("host", "evil.example:8080"), ok[1]]),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(status(&[ok[1]]), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            status(&[ok[0], ok[1], ("origin", "https://evil.example")]),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            status(&[ok[0], ok[1], ("origin", "http://localhost:5173")]),
            None
        );
        assert_eq!(status(&[ok[0]]), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(
            status(&[ok[0], ("authorization", "Bearer secreT")]),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(&[ok[0], ("authorization", "Basic secret")]),
            Some(StatusCode::UNAUTHORIZED)
        );
    }

    #[test]
    fn a_preflight_passes_host_and_origin_checks_without_a_token() {
        let g = guard();
        let preflight = headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://localhost:5173"),
        ]);
        assert_eq!(g.refuse_host_or_origin(&preflight), None);
        assert_eq!(
            g.refuse(&preflight).map(|r| r.0),
            Some(StatusCode::UNAUTHORIZED)
        );
        let foreign = headers(&[
            ("host", "localhost:8080"),
            ("origin", "https://evil.example"),
        ]);
        assert_eq!(
            g.refuse_host_or_origin(&foreign).map(|r| r.0),
            Some(StatusCode::FORBIDDEN)
        );
        assert!(!g.origin_allowed(&HeaderValue::from_static("https://evil.example")));
    }

    #[test]
    fn origins_are_normalised_and_paths_refused() {
        assert_eq!(
            normalise_origin("HTTP://LocalHost:5173").unwrap(),
            "http://localhost:5173"
        );
        assert_eq!(
            normalise_origin("https://app.example.com:443").unwrap(),
            "https://app.example.com"
        );
        assert!(normalise_origin("http://localhost:5173/app").is_err());
        assert!(normalise_origin("localhost").is_err());
    }

    #[test]
    fn discover_probes_are_answered_method_not_found() {
        let answer =
            discover_answer(br#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#).unwrap();
        assert_eq!(answer["error"]["code"], -32601);
        assert_eq!(answer["id"], 1);
        assert!(discover_answer(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).is_none());
        assert!(discover_answer(br#"{"jsonrpc":"2.0","method":"server/discover"}"#).is_none());
    }
}
