//! The `fetch` tool: reads a URL through the host's `http` capability and gives the
//! model its text, HTML simplified to Markdown, one page at a time.
//!
//! It behaves like the reference MCP fetch server (same tool, arguments and paging) but
//! reaches the network only through `pincer:plugin/http`, so the host's grant, its
//! private-network guard and its audit apply to every request. It does not read
//! `robots.txt`: which sites it may reach is the admin's grant.

mod page;

use pincer_sdk::{Args, CallError, CallResult, McpServer, Tool, ToolOutcome, http, string_arg};

use page::Kind;

/// Sent with every request, so that sites can tell an autonomous agent from a person.
const USER_AGENT: &str = "Pincer-Fetch/0.1 (+MCP; autonomous)";

/// What the model may ask for, most wanted first.
const ACCEPT: &str = "text/html,application/xhtml+xml,text/markdown,text/plain;q=0.9,*/*;q=0.8";

const DESCRIPTION: &str = "Fetches a URL from the internet and returns its contents, with HTML \
simplified to Markdown. Long contents come in parts: call again with `start_index` to read on. \
This tool gives you access to the web as it is now, so you can look up current information \
instead of saying you have no internet access.";

/// `max_length` when the caller gives none.
const DEFAULT_MAX_LENGTH: u64 = 5000;

/// The largest `max_length`.
const MAX_MAX_LENGTH: u64 = 999_999;

struct Fetch;

impl McpServer for Fetch {
    fn tools() -> Vec<Tool> {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "format": "uri",
                    "minLength": 1,
                    "description": "URL to fetch"
                },
                "max_length": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_MAX_LENGTH,
                    "default": DEFAULT_MAX_LENGTH,
                    "description": "Maximum number of characters to return."
                },
                "start_index": {
                    "type": "integer",
                    "minimum": 0,
                    "default": 0,
                    "description": "Return the content from this character on; use it when an earlier fetch was truncated and you need more."
                },
                "raw": {
                    "type": "boolean",
                    "default": false,
                    "description": "Return the page's HTML as it is, without simplifying it to Markdown."
                }
            },
            "required": ["url"]
        });
        vec![Tool::new("fetch", DESCRIPTION, &schema.to_string())]
    }

    fn call(name: &str, args: Args) -> ToolOutcome {
        match name {
            "fetch" => fetch(&FetchArgs::parse(&args)?),
            other => Err(CallError::UnknownTool(other.to_owned())),
        }
    }
}

pincer_sdk::mcp_server!(Fetch);

/// The arguments of `fetch`, checked.
struct FetchArgs {
    url: String,
    max_length: usize,
    start_index: usize,
    raw: bool,
}

impl FetchArgs {
    fn parse(args: &Args) -> Result<Self, CallError> {
        let max_length = integer_arg(args, "max_length", DEFAULT_MAX_LENGTH)?;
        if !(1..=MAX_MAX_LENGTH).contains(&max_length) {
            return Err(CallError::InvalidArguments(format!(
                "`max_length` must be from 1 to {MAX_MAX_LENGTH}"
            )));
        }
        let raw = match args.get("raw") {
            None => false,
            Some(value) => value
                .as_bool()
                .ok_or_else(|| CallError::InvalidArguments("`raw` must be a boolean".to_owned()))?,
        };
        Ok(FetchArgs {
            url: string_arg(args, "url")?.to_owned(),
            max_length: max_length as usize,
            start_index: integer_arg(args, "start_index", 0)? as usize,
            raw,
        })
    }
}

/// Read the non-negative integer argument `key`, or `default` when it is absent.
fn integer_arg(args: &Args, key: &str, default: u64) -> Result<u64, CallError> {
    match args.get(key) {
        None => Ok(default),
        Some(value) => value.as_u64().ok_or_else(|| {
            CallError::InvalidArguments(format!("`{key}` must be a non-negative integer"))
        }),
    }
}

fn fetch(args: &FetchArgs) -> ToolOutcome {
    let url = &args.url;
    let request = http::Request {
        method: "GET".to_owned(),
        url: url.clone(),
        headers: vec![
            ("User-Agent".to_owned(), USER_AGENT.to_owned()),
            ("Accept".to_owned(), ACCEPT.to_owned()),
        ],
        body: None,
        // The host bounds the request by the call's own time limit.
        timeout_ms: None,
    };
    let response = match http::fetch(&request) {
        Ok(response) => response,
        Err(e) => return Ok(CallResult::error(explain(url, e))),
    };
    if !(200..300).contains(&response.status) {
        return Ok(CallResult::error(format!(
            "Failed to fetch {url}: the server answered with status {}.",
            response.status
        )));
    }
    let content_type = response
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, value)| value.as_str());
    let (essence, charset) = page::media_type(content_type);
    let kind = page::classify(&essence, &response.body);
    let shown_type = if essence.is_empty() {
        "unknown"
    } else {
        &essence
    };
    if kind == Kind::Binary {
        return Ok(CallResult::error(format!(
            "The content at {url} is binary (type {shown_type}, {} bytes); this tool returns only text and HTML.",
            response.body.len()
        )));
    }
    let text = page::decode(&response.body, charset.as_deref(), kind);
    let heading = format!("Contents of {url}:");
    if kind == Kind::Text || args.raw {
        // Raw HTML was asked for; other text is raw because it is not HTML.
        let heading = if kind == Kind::Text {
            format!(
                "Content type {shown_type} is not simplified to Markdown; here is the raw content.\n{heading}"
            )
        } else {
            heading
        };
        return Ok(CallResult::text(page::paginate(
            &heading,
            &text,
            args.start_index,
            args.max_length,
        )));
    }
    Ok(CallResult::text(match page::html_to_markdown(&text) {
        Some(markdown) => page::paginate(&heading, &markdown, args.start_index, args.max_length),
        None => format!(
            "{heading}\n<error>The page could not be simplified from HTML: it has no readable text. Call again with raw=true for its HTML.</error>"
        ),
    }))
}

/// Why a request produced no response, for the model and its user.
fn explain(url: &str, error: http::Error) -> String {
    match error {
        // The host's text names the manifest line or policy to change: keep it whole.
        http::Error::Denied(why) => format!("Pincer did not allow fetching {url}: {why}"),
        http::Error::InvalidRequest(why) => format!("Cannot fetch {url}: {why}"),
        http::Error::Timeout => format!("Fetching {url} timed out."),
        http::Error::TooLarge(limit) => format!(
            "The response from {url} is larger than {limit} bytes, the most this plugin may read; an admin can raise `max_response_bytes` in the manifest's [capabilities.http]."
        ),
        http::Error::Connection(why) => format!("Failed to fetch {url}: {why}"),
    }
}
