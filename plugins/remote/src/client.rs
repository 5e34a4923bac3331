//! One MCP session with the remote server over Streamable HTTP (protocol 2025-06-18),
//! every request sent through the host's `http` capability.
//!
//! A session is opened for one plugin call and ended when dropped: `initialize`,
//! `notifications/initialized`, the call's requests, then a `DELETE` if the server gave
//! a session id. Each request is a `POST` whose answer is read whole, as JSON or as an
//! event stream; requests the server makes of its own in that stream (sampling,
//! elicitation) are not answered, since this client offers no capability.

use pincer_sdk::{CapabilityError, http};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::rpc::{self, Reply, RpcError};

/// The protocol version this client asks for.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// The versions this client accepts from the server: the tool messages it uses are the
/// same in each.
const ACCEPTED_VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2025-11-25"];

/// How many characters of an unexpected answer an error shows.
const SHOWN_BODY_CHARS: usize = 200;

/// Why a request has no result.
#[derive(Debug)]
pub enum Failure {
    /// The server answered with a JSON-RPC error.
    Rpc(RpcError),
    /// The request failed before the server could answer it, or the answer is not
    /// MCP; the text says what happened and what to fix.
    Transport(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Rpc(e) => write!(
                f,
                "the remote MCP server answered with an error: {} (code {})",
                e.message, e.code
            ),
            Failure::Transport(why) => f.write_str(why),
        }
    }
}

/// An open session with the remote server.
pub struct Session {
    endpoint: String,
    token: Option<String>,
    /// The `Mcp-Session-Id` the server gave on `initialize`, if any.
    session_id: Option<String>,
    /// The version agreed on `initialize`, sent on every later request.
    protocol_version: Option<String>,
    next_id: u64,
}

/// The part of the `initialize` result this client reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Initialized {
    protocol_version: String,
}

impl Session {
    /// Initialize a session with the MCP server at `endpoint`, sending `token` as a
    /// bearer token if there is one.
    pub fn open(endpoint: &str, token: Option<String>) -> Result<Session, Failure> {
        let mut session = Session {
            endpoint: endpoint.to_owned(),
            token,
            session_id: None,
            protocol_version: None,
            next_id: 1,
        };
        let params = serde_json::json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "pincer-remote", "version": env!("CARGO_PKG_VERSION") },
        });
        let result = session.request("initialize", &params)?;
        let initialized: Initialized = serde_json::from_str(result.get()).map_err(|e| {
            Failure::Transport(format!(
                "the remote server's answer to `initialize` is not an MCP initialize result: {e}"
            ))
        })?;
        if !ACCEPTED_VERSIONS.contains(&initialized.protocol_version.as_str()) {
            return Err(Failure::Transport(format!(
                "the remote server speaks MCP {}, which this adapter does not; it speaks {}",
                initialized.protocol_version,
                ACCEPTED_VERSIONS.join(", ")
            )));
        }
        session.protocol_version = Some(initialized.protocol_version);
        session.notify("notifications/initialized")?;
        Ok(session)
    }

    /// Send the request `method` and return its result.
    pub fn request(&mut self, method: &str, params: &Value) -> Result<Box<RawValue>, Failure> {
        let id = self.next_id;
        self.next_id += 1;
        let response = self.send("POST", Some(rpc::request(id, method, params)))?;
        if method == "initialize" {
            self.session_id = response.header("mcp-session-id").map(str::to_owned);
        }
        let content_type = response.header("content-type").unwrap_or_default();
        if !response.is_success() {
            return Err(match rpc::find_reply(content_type, &response.body, id) {
                Ok(Reply::Error(e)) => Failure::Rpc(e),
                _ => Failure::Transport(self.status_error(method, &response)),
            });
        }
        match rpc::find_reply(content_type, &response.body, id) {
            Ok(Reply::Result(result)) => Ok(result),
            Ok(Reply::Error(e)) => Err(Failure::Rpc(e)),
            Err(why) => Err(Failure::Transport(format!(
                "the remote server's answer to `{method}` {why}: {}",
                shown(&response.body)
            ))),
        }
    }

    /// Send the notification `method`, which has no answer.
    fn notify(&mut self, method: &str) -> Result<(), Failure> {
        let response = self.send("POST", Some(rpc::notification(method)))?;
        if response.is_success() {
            Ok(())
        } else {
            Err(Failure::Transport(self.status_error(method, &response)))
        }
    }

    /// Send one HTTP request to the endpoint with the session's headers. The host
    /// bounds it by the plugin call's own time limit.
    fn send(&self, method: &str, body: Option<Vec<u8>>) -> Result<http::Response, Failure> {
        let mut request = http::Request::new(method, &self.endpoint);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .body(body);
        }
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(id) = &self.session_id {
            request = request.header("Mcp-Session-Id", id);
        }
        if let Some(version) = &self.protocol_version {
            request = request.header("MCP-Protocol-Version", version);
        }
        request
            .send()
            .map_err(|e| Failure::Transport(Self::http_error(e)))
    }

    /// Why the request for `method` got the status of `response`, and what to do.
    fn status_error(&self, method: &str, response: &http::Response) -> String {
        let url = &self.endpoint;
        let status = response.status;
        let fix = match status {
            401 | 403 if self.token.is_some() => {
                "; check the token set with `pincer secrets set dev.pincer.remote token`"
            }
            401 | 403 => "; set its token with `pincer secrets set dev.pincer.remote token`",
            404 if self.session_id.is_some() => "; the server ended the session",
            404 | 405 | 406 | 415 | 501 => {
                "; check that the `url` setting is the server's MCP endpoint (often ending in /mcp)"
            }
            _ => "",
        };
        format!(
            "the remote MCP server at {url} answered `{method}` with HTTP {status}{fix}: {}",
            shown(&response.body)
        )
    }

    /// Why `http.fetch` produced no response, and what to do: the SDK's sentence,
    /// which for a denial names the manifest line to add, and for a malformed request
    /// the setting to check.
    fn http_error(error: CapabilityError) -> String {
        match error {
            CapabilityError::Invalid(why) => format!(
                "{why}; check the `url` setting (`pincer config set dev.pincer.remote url URL`)"
            ),
            other => other.to_string(),
        }
    }
}

impl Drop for Session {
    /// End the session on the server, if it gave one. Best effort: a server may refuse
    /// (`405`) or have ended it already.
    fn drop(&mut self) {
        if self.session_id.is_some() {
            let _ = self.send("DELETE", None);
        }
    }
}

/// The start of a body on one line, for an error message.
fn shown(body: &[u8]) -> String {
    pincer_sdk::body_excerpt(body, SHOWN_BODY_CHARS)
}
