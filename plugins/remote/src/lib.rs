//! An adapter for one remote MCP server: its tools, re-exposed unchanged (names,
//! descriptions, input and output schemas), each call forwarded over MCP's Streamable
//! HTTP transport through the host's `http` capability. A third-party MCP server is so
//! vetted, scoped and audited like any plugin: it is reachable only at the origins the
//! admin granted, and every request is in the audit log.
//!
//! Settings: the `url` config key (the server's MCP endpoint) and the optional `token`
//! secret, sent as a bearer token. Each list or call opens a session of its own, since
//! each runs in a fresh instance.

mod client;
mod convert;
mod rpc;

use pincer_sdk::{
    Args, CallError, CallResult, CapabilityError, McpServer, Tool, ToolOutcome, config, log,
    secrets,
};

use client::{Failure, Session};

/// The most `tools/list` pages read, against a server whose cursors never end.
const MAX_PAGES: usize = 100;

struct Remote;

impl McpServer for Remote {
    /// The remote server's tools. The WIT gives this no error, so a server that cannot
    /// be reached lists no tools, and the log says what to fix.
    fn tools() -> Vec<Tool> {
        let listed = connect().and_then(|mut session| {
            list_tools(&mut session).map_err(|failure| failure.to_string())
        });
        match listed {
            Ok(tools) => tools,
            Err(why) => {
                log::warn(format!("listing no tools: {why}"));
                Vec::new()
            }
        }
    }

    fn call(name: &str, args: Args) -> ToolOutcome {
        let mut session = match connect() {
            Ok(session) => session,
            Err(why) => return Ok(CallResult::error(why)),
        };
        let params = serde_json::json!({ "name": name, "arguments": args });
        match session.request("tools/call", &params) {
            Ok(result) => Ok(convert::call_result(&result).unwrap_or_else(|why| {
                CallResult::error(format!("the remote server's tool result {why}"))
            })),
            // MCP answers an unknown tool with invalid params, as it does bad arguments:
            // the tool list tells them apart.
            Err(Failure::Rpc(e))
                if e.code == rpc::INVALID_PARAMS
                    && list_tools(&mut session)
                        .is_ok_and(|tools| !tools.iter().any(|tool| tool.name == name)) =>
            {
                Err(CallError::UnknownTool(name.to_owned()))
            }
            Err(failure) => Ok(CallResult::error(failure.to_string())),
        }
    }
}

pincer_sdk::mcp_server!(Remote);

/// Open a session with the configured server. The error says what to fix.
fn connect() -> Result<Session, String> {
    let url = match config::get("url") {
        Ok(Some(url)) if !url.trim().is_empty() => url,
        Ok(_) => {
            return Err(
                "no remote MCP server is configured: set its endpoint with `pincer config set dev.pincer.remote url https://mcp.example.com/mcp`".to_owned(),
            );
        }
        Err(denied) => return Err(CapabilityError::from(denied).to_string()),
    };
    let token = match secrets::get("token") {
        Ok(token) => Some(token),
        Err(secrets::Error::NotSet(_)) => None,
        Err(denied) => {
            log::warn(format!(
                "sending no token, since the `token` secret cannot be read: {}",
                CapabilityError::from(denied)
            ));
            None
        }
    };
    Session::open(url.trim(), token).map_err(|failure| failure.to_string())
}

/// Every tool of the remote server, page after page.
fn list_tools(session: &mut Session) -> Result<Vec<Tool>, Failure> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(cursor) => serde_json::json!({ "cursor": cursor }),
            None => serde_json::json!({}),
        };
        let result = session.request("tools/list", &params)?;
        let page = convert::tools(&result)
            .map_err(|why| Failure::Transport(format!("the remote server's tool list {why}")))?;
        for skipped in page.skipped {
            log::warn(format!("skipping {skipped}"));
        }
        tools.extend(page.tools);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tools),
        }
    }
    log::warn(format!(
        "the remote server's tool list goes on past {MAX_PAGES} pages; listing the first {MAX_PAGES}"
    ));
    Ok(tools)
}
