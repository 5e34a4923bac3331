//! The checks every request to a Pincer HTTP server passes before anything else sees
//! it, shared by the gateway (`pincer serve`) and `pincer mcp --http`, in this order:
//!
//! 1. a `Host` header naming this server (anything else is DNS rebinding): 403;
//! 2. an `Origin` header, if any, on the admin's allowlist (a web page posting to
//!    localhost): 403;
//! 3. the bearer token, compared as HMAC-SHA256 digests in constant time: 401 with no
//!    detail.
//!
//! A browser's CORS preflight from an allowed origin passes 1 and 2 only: it never
//! carries the token, and it is answered here.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha2::Sha256;

/// The checks, with this server's names, the allowed origins and the token's digest.
pub(crate) struct Guard {
    /// `Host` values that name this server, lower case.
    hosts: Vec<String>,
    /// Browser origins the admin allowed, normalised, and the server's own.
    origins: Vec<String>,
    /// A per-process key; the token is compared as HMAC digests under it.
    key: [u8; 32],
    /// HMAC of the token under `key`.
    token_mac: Vec<u8>,
    /// Request headers a preflight may announce.
    preflight_headers: &'static str,
}

fn mac(key: &[u8], data: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

/// `origin` as browsers send it (`scheme://host[:port]`, lower case, no slash), or why
/// it is not one.
pub(crate) fn normalise_origin(origin: &str) -> Result<String, String> {
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

/// Refuse anything but a loopback address: `flag` names the option in the error.
pub(crate) fn loopback_only(flag: &str, addr: SocketAddr, what: &str) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "{flag} {addr}: Pincer serves {what} on loopback only; use 127.0.0.1:PORT (a client on another machine would get every approved tool)"
        ))
    }
}

impl Guard {
    /// A guard for a server listening on `local`, with a fresh 256-bit token (returned
    /// as hex, to be shown once). `allowed_origins` are checked and normalised.
    pub(crate) fn new(
        local: SocketAddr,
        allowed_origins: &[String],
        preflight_headers: &'static str,
    ) -> Result<(Self, String), String> {
        let mut origins = allowed_origins
            .iter()
            .map(|o| normalise_origin(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--allow-origin: {e}"))?;
        let port = local.port();
        let hosts = match local.ip() {
            std::net::IpAddr::V4(ip) => vec![format!("{ip}:{port}"), format!("localhost:{port}")],
            std::net::IpAddr::V6(ip) => {
                vec![format!("[{ip}]:{port}"), format!("localhost:{port}")]
            }
        };
        // The server's own origin is allowed: it serves no page that could misuse it.
        origins.extend(hosts.iter().map(|h| format!("http://{h}")));
        let mut token_bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut token_bytes);
        let token = hex::encode(token_bytes);
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let guard = Guard {
            hosts,
            origins,
            token_mac: mac(&key, token.as_bytes()).finalize().into_bytes().to_vec(),
            key,
            preflight_headers,
        };
        Ok((guard, token))
    }

    /// The `Host` values this server answers to.
    pub(crate) fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// The origins allowed to call it.
    pub(crate) fn origins(&self) -> &[String] {
        &self.origins
    }

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
            return Some((StatusCode::FORBIDDEN, "foreign Host header"));
        }
        if let Some(origin) = headers.get(header::ORIGIN)
            && !self.origin_allowed(origin)
        {
            return Some((StatusCode::FORBIDDEN, "Origin not allowed"));
        }
        None
    }
}

/// The stable shape of every error the gateway returns:
/// `{"error": {"code": "...", "message": "..."}}`.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Let a page on an allowed origin read the response (and the MCP session id).
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

/// The middleware: refuse, answer a preflight, or pass the request on.
pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    // Only an allowed origin is ever echoed back.
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| guard.origin_allowed(o))
        .cloned();
    let preflight = request.method() == axum::http::Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN);
    let refused = if preflight {
        guard.refuse_host_or_origin(request.headers())
    } else {
        guard.refuse(request.headers())
    };
    if let Some((status, reason)) = refused {
        if status == StatusCode::UNAUTHORIZED {
            // No detail: not even whether a token was there.
            let mut response = status.into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        return error_response(status, "forbidden", reason);
    }
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(guard.preflight_headers),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    } else {
        next.run(request).await
    };
    allow_cross_origin(origin, &mut response);
    response
}

/// Write `contents` to `file` under `home` (mode 0600): where a running server's URL and
/// token are found.
pub(crate) fn write_token_file(
    home: &crate::store::Home,
    file: &str,
    contents: &serde_json::Value,
) -> Result<(), String> {
    home.create_dir_all("run").map_err(|e| e.to_string())?;
    home.write_atomic(file, contents.to_string().as_bytes(), 0o600)
        .map_err(|e| e.to_string())
}

/// Remove `file` if it still holds `token`: another server may have started since and
/// written its own.
pub(crate) fn remove_token_file(home: &crate::store::Home, file: &str, token: &str) {
    let ours = home
        .read_optional(file)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["token"] == token);
    if ours {
        let _ = home.remove_file(file);
    }
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
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
            preflight_headers: "authorization",
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
    fn only_loopback_addresses_are_served() {
        assert!(loopback_only("--http", "127.0.0.1:0".parse().unwrap(), "MCP").is_ok());
        assert!(loopback_only("--http", "[::1]:0".parse().unwrap(), "MCP").is_ok());
        let err =
            loopback_only("--port", "0.0.0.0:80".parse().unwrap(), "the gateway").unwrap_err();
        assert!(err.contains("loopback only"), "{err}");
    }
}
