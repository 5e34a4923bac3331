//! The remote server's tools and tool results, turned into the WIT's: names,
//! descriptions and schemas unchanged (the schemas as the exact JSON text the server
//! sent), content items mapped to text and images.
//!
//! Pure functions over JSON text, tested natively; this module never makes a request.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use pincer_sdk::{CallResult, Content, Image, Tool};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Standard base64, with or without padding: servers differ.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One page of a `tools/list` result.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolsPage {
    tools: Vec<Box<RawValue>>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// A tool as the remote server describes it. Fields the WIT has no place for
/// (annotations, icons) are dropped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteTool {
    name: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    input_schema: Option<Box<RawValue>>,
    #[serde(default)]
    output_schema: Option<Box<RawValue>>,
    #[serde(default)]
    annotations: Option<Annotations>,
}

/// The part of a tool's annotations that the WIT keeps: the title of older servers.
#[derive(Deserialize)]
struct Annotations {
    #[serde(default)]
    title: Option<String>,
}

/// What one `tools/list` page holds.
#[derive(Debug)]
pub struct Tools {
    /// The tools, in the server's order.
    pub tools: Vec<Tool>,
    /// Why some tools were left out (a tool without a name, say).
    pub skipped: Vec<String>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// Read one page of a `tools/list` result. The error text completes "the tool list ...".
pub fn tools(result: &RawValue) -> Result<Tools, String> {
    let page: ToolsPage =
        serde_json::from_str(result.get()).map_err(|e| format!("is not a list of tools: {e}"))?;
    let mut tools = Vec::new();
    let mut skipped = Vec::new();
    for raw in page.tools {
        match serde_json::from_str::<RemoteTool>(raw.get()) {
            Ok(tool) => tools.push(tool.into_wit()),
            Err(e) => skipped.push(format!(
                "a tool that is not well-formed ({e}): {}",
                raw.get()
            )),
        }
    }
    Ok(Tools {
        tools,
        skipped,
        next_cursor: page.next_cursor,
    })
}

impl RemoteTool {
    fn into_wit(self) -> Tool {
        let title = self
            .title
            .or_else(|| self.annotations.and_then(|a| a.title))
            .filter(|t| !t.trim().is_empty());
        // Pincer serves no tool without a description, and MCP makes it optional.
        let description = self
            .description
            .filter(|d| !d.trim().is_empty())
            .or_else(|| title.clone())
            .unwrap_or_else(|| format!("The remote MCP server's `{}` tool.", self.name));
        Tool {
            title,
            description,
            input_schema: self
                .input_schema
                .map_or_else(|| r#"{"type":"object"}"#.to_owned(), |s| s.get().to_owned()),
            output_schema: self.output_schema.map(|s| s.get().to_owned()),
            name: self.name,
        }
    }
}

/// A `tools/call` result as the remote server sends it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoteResult {
    #[serde(default)]
    content: Vec<Box<RawValue>>,
    #[serde(default)]
    structured_content: Option<Box<RawValue>>,
    #[serde(default)]
    is_error: bool,
}

/// The fields of a content item that text and images have.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
}

/// Read a `tools/call` result. Text and images map to the WIT's items; any other item
/// (audio, an embedded resource, a resource link) becomes a text item holding its JSON.
/// The error text completes "the tool result ...".
pub fn call_result(result: &RawValue) -> Result<CallResult, String> {
    let remote: RemoteResult =
        serde_json::from_str(result.get()).map_err(|e| format!("is not a tool result: {e}"))?;
    Ok(CallResult {
        content: remote.content.iter().map(|raw| content(raw)).collect(),
        structured_content: remote.structured_content.map(|s| s.get().to_owned()),
        is_error: remote.is_error,
    })
}

fn content(raw: &RawValue) -> Content {
    let as_json = || Content::Text(raw.get().to_owned());
    let Ok(block) = serde_json::from_str::<Block>(raw.get()) else {
        return as_json();
    };
    match (block.kind.as_str(), block.text, block.data, block.mime_type) {
        ("text", Some(text), _, _) => Content::Text(text),
        ("image", _, Some(data), Some(mime_type)) => match BASE64.decode(data.as_bytes()) {
            Ok(data) => Content::Image(Image { data, mime_type }),
            Err(_) => as_json(),
        },
        _ => as_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.to_owned()).unwrap()
    }

    #[test]
    fn keeps_names_descriptions_and_schemas_as_sent() {
        let page = tools(&raw(
            r#"{"tools":[{"name":"add","title":"Add","description":"Adds.","inputSchema":{"type":"object","properties":{"b":{},"a":{}}},"outputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}}],"nextCursor":"p2"}"#,
        ))
        .unwrap();
        let tool = &page.tools[0];
        assert_eq!(tool.name, "add");
        assert_eq!(tool.title.as_deref(), Some("Add"));
        assert_eq!(tool.description, "Adds.");
        assert_eq!(
            tool.input_schema,
            r#"{"type":"object","properties":{"b":{},"a":{}}}"#
        );
        assert_eq!(tool.output_schema.as_deref(), Some(r#"{"type":"object"}"#));
        assert_eq!(page.next_cursor.as_deref(), Some("p2"));
        assert!(page.skipped.is_empty());
    }

    #[test]
    fn fills_in_a_missing_description_and_schema() {
        let page = tools(&raw(
            r#"{"tools":[{"name":"a","annotations":{"title":"Alpha"}},{"name":"b","description":" "}]}"#,
        ))
        .unwrap();
        assert_eq!(page.tools[0].description, "Alpha");
        assert_eq!(page.tools[0].title.as_deref(), Some("Alpha"));
        assert_eq!(page.tools[0].input_schema, r#"{"type":"object"}"#);
        assert_eq!(
            page.tools[1].description,
            "The remote MCP server's `b` tool."
        );
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn skips_a_tool_without_a_name() {
        let page = tools(&raw(r#"{"tools":[{"description":"x"},{"name":"ok"}]}"#)).unwrap();
        assert_eq!(page.tools.len(), 1);
        assert_eq!(page.skipped.len(), 1);
        assert!(page.skipped[0].contains(r#"{"description":"x"}"#));
    }

    #[test]
    fn rejects_a_result_that_is_not_a_tool_list() {
        assert!(tools(&raw(r#"{"items":[]}"#)).is_err());
    }

    #[test]
    fn maps_text_images_and_other_content() {
        let result = call_result(&raw(r#"{"content":[
                {"type":"text","text":"hi"},
                {"type":"image","data":"iVBORw==","mimeType":"image/png"},
                {"type":"image","data":"iVBORw","mimeType":"image/png"},
                {"type":"audio","data":"AAAA","mimeType":"audio/wav"},
                {"type":"resource_link","uri":"file:///a","name":"a"}
            ],"structuredContent":{"n":1},"isError":true}"#))
        .unwrap();
        let png = vec![0x89, b'P', b'N', b'G'];
        assert_eq!(result.content.len(), 5);
        assert!(matches!(&result.content[0], Content::Text(t) if t == "hi"));
        assert!(
            matches!(&result.content[1], Content::Image(i) if i.data == png && i.mime_type == "image/png")
        );
        assert!(matches!(&result.content[2], Content::Image(i) if i.data == png));
        assert!(
            matches!(&result.content[3], Content::Text(t) if t == r#"{"type":"audio","data":"AAAA","mimeType":"audio/wav"}"#)
        );
        assert!(
            matches!(&result.content[4], Content::Text(t) if t == r#"{"type":"resource_link","uri":"file:///a","name":"a"}"#)
        );
        assert_eq!(result.structured_content.as_deref(), Some(r#"{"n":1}"#));
        assert!(result.is_error);
    }

    #[test]
    fn keeps_an_image_that_is_not_base64_as_json() {
        let result = call_result(&raw(
            r#"{"content":[{"type":"image","data":"not base64!","mimeType":"image/png"}]}"#,
        ))
        .unwrap();
        assert!(matches!(&result.content[0], Content::Text(t) if t.contains("not base64!")));
        assert!(!result.is_error);
        assert_eq!(result.structured_content, None);
    }

    #[test]
    fn rejects_a_result_that_is_not_an_object() {
        assert!(call_result(&raw("[1]")).is_err());
    }
}
