//! The `fetch` tool: reads a URL through the host's `http` capability and gives the
//! model its text, HTML simplified to Markdown, one page at a time.
//!
//! It behaves like the reference MCP fetch server (same tool, arguments and paging) but
//! reaches the network only through `pincer:plugin/http`, so the host's grant, its
//! private-network guard and its audit apply to every request. It does not read
//! `robots.txt`: which sites it may reach is the admin's grant.

mod page;

use pincer_sdk::{McpServer, ToolError, Toolbox, http};
use schemars::JsonSchema;
use serde::Deserialize;

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
const DEFAULT_MAX_LENGTH: usize = 5000;

/// The largest `max_length`.
const MAX_MAX_LENGTH: usize = 999_999;

struct Fetch;

impl McpServer for Fetch {
    fn toolbox() -> Toolbox {
        Toolbox::new().tool("fetch", DESCRIPTION, fetch)
    }
}

pincer_sdk::mcp_server!(Fetch);

/// The arguments of `fetch`.
#[derive(Deserialize, JsonSchema)]
struct FetchArgs {
    /// URL to fetch
    #[schemars(url, length(min = 1))]
    url: String,
    /// Maximum number of characters to return.
    #[serde(default = "default_max_length")]
    #[schemars(range(min = 1, max = MAX_MAX_LENGTH))]
    max_length: usize,
    /// Return the content from this character on; use it when an earlier fetch was
    /// truncated and you need more.
    #[serde(default)]
    start_index: usize,
    /// Return the page's HTML as it is, without simplifying it to Markdown.
    #[serde(default)]
    raw: bool,
}

fn default_max_length() -> usize {
    DEFAULT_MAX_LENGTH
}

fn fetch(args: FetchArgs) -> Result<String, ToolError> {
    if !(1..=MAX_MAX_LENGTH).contains(&args.max_length) {
        return Err(ToolError::invalid_arguments(format!(
            "`max_length` must be from 1 to {MAX_MAX_LENGTH}"
        )));
    }
    let url = &args.url;
    // The host bounds the request by the call's own time limit.
    let response = http::Request::get(url)
        .header("User-Agent", USER_AGENT)
        .header("Accept", ACCEPT)
        .send()?;
    if !response.is_success() {
        return Err(ToolError::failed(format!(
            "Failed to fetch {url}: the server answered with status {}.",
            response.status
        )));
    }
    let (essence, charset) = page::media_type(response.header("content-type").unwrap_or(""));
    let kind = page::classify(&essence, &response.body);
    let shown_type = if essence.is_empty() {
        "unknown"
    } else {
        &essence
    };
    if kind == Kind::Binary {
        return Err(ToolError::failed(format!(
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
        return Ok(page::paginate(
            &heading,
            &text,
            args.start_index,
            args.max_length,
        ));
    }
    Ok(match page::html_to_markdown(&text) {
        Some(markdown) => page::paginate(&heading, &markdown, args.start_index, args.max_length),
        None => format!(
            "{heading}\n<error>The page could not be simplified from HTML: it has no readable text. Call again with raw=true for its HTML.</error>"
        ),
    })
}
