//! Typed MCP tools: a [`Toolbox`] of tools, each declared with a name, a description and
//! a handler whose argument type gives the tool's input schema (derived with `schemars`)
//! and reads the call's arguments (with `serde`).
//!
//! This module owns turning typed handlers into the `tools` interface: the schemas a
//! client lists, the argument errors it gets back, and how a handler's result or
//! [`ToolError`] becomes a `call-result` or a `call-error`. It never calls a capability.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::caps::CapabilityError;
use crate::{Args, CallError, CallResult, Content, Tool, ToolOutcome};

/// The tools of an `mcp-server` plugin, each with its handler.
///
/// Build one in [`McpServer::toolbox`](crate::McpServer::toolbox); the trait's default
/// `tools` and `call` list and dispatch them. A toolbox starts with no tools.
///
/// ```
/// use pincer_sdk::{ToolError, Toolbox};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// The arguments of `greet`.
/// #[derive(Deserialize, JsonSchema)]
/// struct Greet {
///     /// Who to greet
///     name: String,
/// }
///
/// fn greet(args: Greet) -> Result<String, ToolError> {
///     Ok(format!("Hello, {}!", args.name))
/// }
///
/// let toolbox = Toolbox::new().tool("greet", "Greets someone by name.", greet);
/// let schema: serde_json::Value = serde_json::from_str(&toolbox.tools()[0].input_schema)?;
/// assert_eq!(schema["required"][0], "name");
/// assert_eq!(schema["properties"]["name"]["description"], "Who to greet");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Default)]
pub struct Toolbox {
    entries: Vec<Entry>,
}

struct Entry {
    name: String,
    title: Option<String>,
    description: String,
    schemas: Schemas,
    handler: Box<dyn Fn(Args) -> ToolOutcome>,
}

/// A tool's input and output schemas. Derived ones are made only when a client lists
/// the tools: every call builds the toolbox again (each runs in a fresh instance), and
/// only needs its handlers.
enum Schemas {
    Derived {
        input: fn() -> String,
        output: fn() -> Option<String>,
    },
    Given {
        input: String,
        output: Option<String>,
    },
}

impl Entry {
    fn tool(&self) -> Tool {
        let (input_schema, output_schema) = match &self.schemas {
            Schemas::Derived { input, output } => (input(), output()),
            Schemas::Given { input, output } => (input.clone(), output.clone()),
        };
        Tool {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            input_schema,
            output_schema,
        }
    }
}

impl Toolbox {
    /// A toolbox with no tools.
    pub fn new() -> Self {
        Toolbox::default()
    }

    /// This toolbox, with the tool `name` that does what `description` says (for the
    /// model, and for the admin who reviews the plugin) by calling `handler`.
    ///
    /// The tool's input schema is derived from `A`: its fields are the arguments, each
    /// field's doc comment its description, and `schemars` attributes add bounds,
    /// formats and defaults. A call whose arguments do not deserialize into `A` is
    /// refused with `invalid-arguments`, naming the field, before `handler` runs.
    /// What `handler` returns is any [`ToolOutput`]; a [`Structured`] result also
    /// declares the tool's output schema.
    pub fn tool<A, R, F>(mut self, name: &str, description: &str, handler: F) -> Self
    where
        A: DeserializeOwned + JsonSchema,
        R: ToolOutput,
        F: Fn(A) -> Result<R, ToolError> + 'static,
    {
        self.entries.push(Entry {
            name: name.to_owned(),
            title: None,
            description: description.to_owned(),
            schemas: Schemas::Derived {
                input: input_schema::<A>,
                output: R::output_schema,
            },
            handler: Box::new(move |args| {
                let args = parse_arguments::<A>(args)?;
                handler(args)
                    .map(ToolOutput::into_call_result)
                    .or_else(ToolError::into_outcome)
            }),
        });
        self
    }

    /// This toolbox, with `tool` as it is (its schemas written by hand) and a `handler`
    /// that reads the arguments object itself. For a schema that no Rust type derives,
    /// such as one given by a specification word for word.
    pub fn raw_tool(mut self, tool: Tool, handler: impl Fn(Args) -> ToolOutcome + 'static) -> Self {
        self.entries.push(Entry {
            name: tool.name,
            title: tool.title,
            description: tool.description,
            schemas: Schemas::Given {
                input: tool.input_schema,
                output: tool.output_schema,
            },
            handler: Box::new(handler),
        });
        self
    }

    /// This toolbox, the tool added last having the human-readable `title` (for a
    /// client to show instead of its name).
    ///
    /// # Panics
    ///
    /// If no tool has been added yet: a title belongs to a tool.
    pub fn title(mut self, title: &str) -> Self {
        let entry = self
            .entries
            .last_mut()
            .expect("Toolbox::title names the tool added last; add a tool first");
        entry.title = Some(title.to_owned());
        self
    }

    /// The tools, in the order they were added: what a client lists.
    pub fn tools(&self) -> Vec<Tool> {
        self.entries.iter().map(Entry::tool).collect()
    }

    /// Call the tool `name` with `args`: `unknown-tool` if there is none.
    pub fn call(&self, name: &str, args: Args) -> ToolOutcome {
        match self.entries.iter().find(|e| e.name == name) {
            Some(entry) => (entry.handler)(args),
            None => Err(CallError::UnknownTool(name.to_owned())),
        }
    }
}

/// The arguments of a tool that takes none: an empty object. An argument is refused,
/// as for a type that denies unknown fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}

/// Why a tool did not do what was asked.
///
/// Each variant reaches the client differently: bad arguments are a `call-error` (the
/// call was wrong), everything else an `is-error` result whose text the model reads
/// (the call was right, and the tool could not do it). A capability's error converts
/// with `?`, so a denial reaches the model with the manifest line that would allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The arguments are not what the tool takes; the text says which and why.
    InvalidArguments(String),
    /// The tool ran and could not do what was asked; the text says why.
    Failed(String),
    /// A capability call was denied or failed; for a denial, the text names the
    /// manifest line that would allow it.
    Capability(CapabilityError),
}

impl ToolError {
    /// The tool ran and could not do what was asked, because of `why`.
    pub fn failed(why: impl Into<String>) -> Self {
        ToolError::Failed(why.into())
    }

    /// The arguments are not what the tool takes, because of `why`.
    pub fn invalid_arguments(why: impl Into<String>) -> Self {
        ToolError::InvalidArguments(why.into())
    }

    /// What the client gets: `invalid-arguments` for bad arguments, else an `is-error`
    /// result with this error's text.
    pub fn into_outcome(self) -> ToolOutcome {
        match self {
            ToolError::InvalidArguments(why) => Err(CallError::InvalidArguments(why)),
            other => Ok(CallResult::error(other.to_string())),
        }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::InvalidArguments(why) | ToolError::Failed(why) => f.write_str(why),
            ToolError::Capability(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<CapabilityError> for ToolError {
    fn from(e: CapabilityError) -> Self {
        ToolError::Capability(e)
    }
}

/// What a tool handler may return: text, a whole [`CallResult`] (images, several
/// items, an `is-error` result of its own), or [`Structured`] content.
pub trait ToolOutput {
    /// The JSON Schema of the structured content this output carries, if any. The
    /// tool declares it as its output schema.
    fn output_schema() -> Option<String> {
        None
    }

    /// The result the client gets.
    fn into_call_result(self) -> CallResult;
}

impl ToolOutput for String {
    fn into_call_result(self) -> CallResult {
        CallResult::text(self)
    }
}

impl ToolOutput for &str {
    fn into_call_result(self) -> CallResult {
        CallResult::text(self)
    }
}

impl ToolOutput for CallResult {
    fn into_call_result(self) -> CallResult {
        self
    }
}

/// A typed result: `T` becomes the result's structured content, and the tool declares
/// the output schema derived from `T` (the fields `T` serializes). A client that reads
/// only text gets the JSON of `T`, or the text given with [`Structured::with_text`].
///
/// MCP wants structured content to be a JSON object, so `T` is a struct (or a map).
///
/// ```
/// use pincer_sdk::{Structured, Toolbox};
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Text {
///     text: String,
/// }
///
/// #[derive(Serialize, JsonSchema)]
/// struct Counts {
///     words: usize,
/// }
///
/// let toolbox = Toolbox::new().tool("count", "Counts words.", |args: Text| {
///     let words = args.text.split_whitespace().count();
///     Ok(Structured::new(Counts { words }).with_text(format!("{words} words")))
/// });
/// assert!(toolbox.tools()[0].output_schema.is_some());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Structured<T> {
    value: T,
    text: Option<String>,
}

impl<T: Serialize + JsonSchema> Structured<T> {
    /// `value` as structured content; its text is its JSON.
    pub fn new(value: T) -> Self {
        Structured { value, text: None }
    }

    /// This result, with `text` for clients that read only text, such as a sentence
    /// that says what the structured content holds.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

impl<T: Serialize + JsonSchema> ToolOutput for Structured<T> {
    fn output_schema() -> Option<String> {
        Some(output_schema::<T>())
    }

    fn into_call_result(self) -> CallResult {
        match serde_json::to_string(&self.value) {
            Ok(json) => CallResult {
                content: vec![Content::Text(self.text.unwrap_or_else(|| json.clone()))],
                structured_content: Some(json),
                is_error: false,
            },
            // A derived `Serialize` of a struct does not fail; a hand-written one may.
            Err(e) => {
                CallResult::error(format!("the tool's result cannot be written as JSON: {e}"))
            }
        }
    }
}

/// The arguments object `args` as an `A`, or `invalid-arguments` with serde's message,
/// prefixed by the path of the argument it is about (`` `edits[0].oldText`: ``) unless
/// the message names it already.
pub(crate) fn parse_arguments<A: DeserializeOwned>(args: Args) -> Result<A, CallError> {
    serde_path_to_error::deserialize(Value::Object(args)).map_err(|e| {
        let path = e.path().to_string();
        let why = e.into_inner();
        CallError::InvalidArguments(if path == "." {
            why.to_string()
        } else {
            format!("`{path}`: {why}")
        })
    })
}

/// The JSON Schema of the arguments `A` takes, as a tool's input schema.
pub(crate) fn input_schema<A: JsonSchema>() -> String {
    let mut schema = root_schema::<A>(SchemaSettings::draft2020_12().for_deserialize());
    strip_null_from_optional(&mut schema);
    schema.to_string()
}

/// The JSON Schema of the content `T` serializes to, as a tool's output schema.
pub(crate) fn output_schema<T: JsonSchema>() -> String {
    root_schema::<T>(SchemaSettings::draft2020_12().for_serialize()).to_string()
}

/// `T`'s schema, everything inlined, without the root's `$schema`, `title` and
/// `description` (the tool has its own description; the type's doc comment is for
/// Rust readers), with `properties` even when there are none, with doc comments
/// unwrapped into one line per paragraph and without the `format` that schemars gives
/// Rust's number types.
fn root_schema<T: JsonSchema>(settings: SchemaSettings) -> Value {
    let generator = settings
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(root) = schema.as_object_mut() {
        root.remove("title");
        root.remove("description");
        // Some clients want an object's `properties`, even none.
        if root.get("type").is_some_and(|t| t == "object") {
            root.entry("properties")
                .or_insert_with(|| Value::Object(Default::default()));
        }
    }
    tidy(&mut schema);
    schema
}

/// The `format`s schemars gives number types, which no validator or model uses.
const NUMBER_FORMATS: [&str; 14] = [
    "int8", "int16", "int32", "int64", "int128", "int", "uint8", "uint16", "uint32", "uint64",
    "uint128", "uint", "float", "double",
];

/// Unwrap doc comments and drop number formats, in `schema` and every schema in it.
fn tidy(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(description)) = map.get_mut("description") {
                *description = unwrap_lines(description);
            }
            if map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| NUMBER_FORMATS.contains(&f))
            {
                map.remove("format");
            }
            map.values_mut().for_each(tidy);
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// A doc comment as one line per paragraph, as rustdoc shows it: lines joined with a
/// space, except before a blank line or a list item.
fn unwrap_lines(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut lines = doc.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        match lines.peek() {
            None => {}
            Some(next) if line.is_empty() || next.is_empty() || is_list_item(next) => {
                out.push('\n')
            }
            Some(_) => out.push(' '),
        }
    }
    out
}

fn is_list_item(line: &str) -> bool {
    line.starts_with("- ")
        || line.starts_with("* ")
        || line
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// An optional argument is left out, not sent as null: in each object schema of
/// `schema`, a property that is not required loses the `null` that schemars adds for
/// an `Option` (`["integer", "null"]` becomes `"integer"`). Serde still reads a null.
fn strip_null_from_optional(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let required: Vec<String> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    if !required.contains(name) {
                        drop_null(property);
                    }
                }
            }
            map.values_mut().for_each(strip_null_from_optional);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null_from_optional),
        _ => {}
    }
}

/// `property` without its `null` alternative: from a `type` list, or from an `anyOf`
/// of one schema and `{"type": "null"}`.
fn drop_null(property: &mut Value) {
    let Some(map) = property.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".to_owned(), only);
        }
    }
    let is_null = |s: &Value| s.get("type").is_some_and(|t| t == "null");
    if let Some(Value::Array(any_of)) = map.get("anyOf")
        && any_of.len() == 2
        && any_of.iter().any(is_null)
    {
        let Some(Value::Array(any_of)) = map.remove("anyOf") else {
            unreachable!("matched just above");
        };
        if let Some(Value::Object(inner)) = any_of.into_iter().find(|s| !is_null(s)) {
            for (key, value) in inner {
                map.entry(key).or_insert(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Arguments with a doc comment the model must not see.
    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Fetch {
        /// URL to fetch
        #[schemars(url, length(min = 1))]
        url: String,
        /// Maximum number of characters to return. This comment wraps onto a second
        /// line in the source.
        #[serde(default = "default_max")]
        #[schemars(range(min = 1, max = 999_999))]
        max_length: u64,
        /// Return only the first N lines.
        head: Option<usize>,
        /// The replacements.
        #[schemars(length(min = 1))]
        edits: Vec<Edit>,
        /// Sort by name or size.
        #[serde(default, rename = "sortBy")]
        sort_by: SortBy,
    }

    fn default_max() -> u64 {
        5000
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Edit {
        /// The text to replace.
        old_text: String,
        /// What to put in its place.
        new_text: Option<String>,
    }

    #[derive(Deserialize, Serialize, JsonSchema, Default)]
    #[serde(rename_all = "lowercase")]
    enum SortBy {
        #[default]
        Name,
        Size,
    }

    #[derive(Serialize, JsonSchema)]
    struct Counts {
        words: usize,
        created: Option<String>,
    }

    fn schema_of(toolbox: &Toolbox) -> Value {
        serde_json::from_str(&toolbox.tools()[0].input_schema).unwrap()
    }

    fn fetch_toolbox() -> Toolbox {
        Toolbox::new().tool("fetch", "Fetches a URL.", |args: Fetch| {
            Ok(format!("{} {}", args.url, args.max_length))
        })
    }

    fn object(value: Value) -> Args {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn derives_a_clean_object_schema_from_the_argument_type() {
        assert_eq!(
            schema_of(&fetch_toolbox()),
            json!({
                "type": "object",
                "properties": {
                    "url": {
                        "type": "string",
                        "format": "uri",
                        "minLength": 1,
                        "description": "URL to fetch",
                    },
                    "max_length": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 999_999,
                        "default": 5000,
                        "description": "Maximum number of characters to return. This comment wraps onto a second line in the source.",
                    },
                    "head": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Return only the first N lines.",
                    },
                    "edits": {
                        "type": "array",
                        "minItems": 1,
                        "description": "The replacements.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "oldText": {"type": "string", "description": "The text to replace."},
                                "newText": {"type": "string", "description": "What to put in its place."},
                            },
                            "required": ["oldText"],
                            "additionalProperties": false,
                        },
                    },
                    "sortBy": {
                        "type": "string",
                        "enum": ["name", "size"],
                        "default": "name",
                        "description": "Sort by name or size.",
                    },
                },
                "required": ["url", "edits"],
                "additionalProperties": false,
            })
        );
    }

    #[test]
    fn declares_the_output_schema_of_structured_results_only() {
        let toolbox = Toolbox::new()
            .tool("count", "Counts.", |_: Edit| {
                Ok(Structured::new(Counts {
                    words: 2,
                    created: None,
                }))
            })
            .tool("say", "Says.", |_: Edit| Ok("said"));
        let tools = toolbox.tools();
        let output: Value = serde_json::from_str(tools[0].output_schema.as_ref().unwrap()).unwrap();
        assert_eq!(
            output,
            json!({
                "type": "object",
                "properties": {
                    "words": {"type": "integer", "minimum": 0},
                    "created": {"type": ["string", "null"]},
                },
                "required": ["words", "created"],
            })
        );
        assert_eq!(tools[1].output_schema, None);
    }

    #[test]
    fn returns_structured_content_with_its_json_or_a_text() {
        let counts = || Counts {
            words: 2,
            created: None,
        };
        let plain = Structured::new(counts()).into_call_result();
        assert_eq!(
            plain.structured_content.as_deref(),
            Some(r#"{"words":2,"created":null}"#)
        );
        assert!(
            matches!(&plain.content[..], [Content::Text(t)] if t == r#"{"words":2,"created":null}"#)
        );
        let told = Structured::new(counts())
            .with_text("2 words")
            .into_call_result();
        assert!(matches!(&told.content[..], [Content::Text(t)] if t == "2 words"));
        assert!(!told.is_error);
    }

    #[test]
    fn calls_the_handler_with_typed_arguments() {
        let args = object(json!({"url": "https://example.com/", "edits": []}));
        let result = fetch_toolbox().call("fetch", args).unwrap();
        assert!(
            matches!(&result.content[..], [Content::Text(t)] if t == "https://example.com/ 5000")
        );
    }

    #[test]
    fn refuses_a_missing_argument_by_name() {
        let refused = fetch_toolbox().call("fetch", object(json!({"edits": []})));
        assert_eq!(
            refused,
            Err(CallError::InvalidArguments(
                "missing field `url`".to_owned()
            ))
        );
    }

    #[test]
    fn refuses_an_argument_of_the_wrong_type_naming_where_it_is() {
        let refused = fetch_toolbox().call("fetch", object(json!({"url": 7, "edits": []})));
        assert_eq!(
            refused,
            Err(CallError::InvalidArguments(
                "`url`: invalid type: integer `7`, expected a string".to_owned()
            ))
        );
        let refused = fetch_toolbox().call(
            "fetch",
            object(json!({"url": "u", "edits": [{"oldText": "a", "newText": 1}]})),
        );
        assert_eq!(
            refused,
            Err(CallError::InvalidArguments(
                "`edits[0].newText`: invalid type: integer `1`, expected a string".to_owned()
            ))
        );
    }

    #[test]
    fn refuses_an_unknown_argument_and_an_unknown_tool() {
        let refused = fetch_toolbox().call(
            "fetch",
            object(json!({"url": "u", "edits": [], "bogus": 1})),
        );
        assert!(
            matches!(&refused, Err(CallError::InvalidArguments(why)) if why.contains("unknown field `bogus`")),
            "{refused:?}"
        );
        assert_eq!(
            fetch_toolbox().call("delete_everything", Args::new()),
            Err(CallError::UnknownTool("delete_everything".to_owned()))
        );
    }

    #[test]
    fn turns_tool_errors_into_error_results_or_argument_errors() {
        let toolbox = Toolbox::new()
            .tool("fail", "Fails.", |_: Args| {
                Err::<String, _>(ToolError::failed("the disk is full"))
            })
            .tool("picky", "Refuses.", |_: Args| {
                Err::<String, _>(ToolError::invalid_arguments(
                    "give `head` or `tail`, not both",
                ))
            });
        assert_eq!(
            toolbox.call("fail", Args::new()),
            Ok(CallResult::error("the disk is full"))
        );
        assert_eq!(
            toolbox.call("picky", Args::new()),
            Err(CallError::InvalidArguments(
                "give `head` or `tail`, not both".to_owned()
            ))
        );
    }

    #[test]
    fn lists_raw_tools_as_written_and_titles_as_given() {
        let raw = Tool::new("raw", "Raw.", r#"{"type":"object","$defs":{}}"#);
        let toolbox = Toolbox::new()
            .raw_tool(raw, |args| {
                Ok(CallResult::text(Value::Object(args).to_string()))
            })
            .title("A Raw Tool");
        let tools = toolbox.tools();
        assert_eq!(tools[0].input_schema, r#"{"type":"object","$defs":{}}"#);
        assert_eq!(tools[0].title.as_deref(), Some("A Raw Tool"));
        let echoed = toolbox.call("raw", object(json!({"a": 1}))).unwrap();
        assert!(matches!(&echoed.content[..], [Content::Text(t)] if t == r#"{"a":1}"#));
    }

    #[test]
    fn a_tool_without_arguments_takes_an_empty_object_only() {
        let toolbox = Toolbox::new().tool("ping", "Pings.", |_: NoArguments| Ok("pong"));
        assert_eq!(
            schema_of(&toolbox),
            json!({"type": "object", "properties": {}, "additionalProperties": false})
        );
        assert!(toolbox.call("ping", Args::new()).is_ok());
        let refused = toolbox.call("ping", object(json!({"x": 1})));
        assert!(
            matches!(&refused, Err(CallError::InvalidArguments(why)) if why.contains("unknown field `x`")),
            "{refused:?}"
        );
    }

    #[test]
    fn unwraps_doc_comments_into_paragraphs_and_lists() {
        assert_eq!(unwrap_lines("one\ntwo\n\nthree"), "one two\n\nthree");
        assert_eq!(
            unwrap_lines("items:\n- a\n- b\n1. c"),
            "items:\n- a\n- b\n1. c"
        );
        assert_eq!(
            unwrap_lines("Version 2. Not a list"),
            "Version 2. Not a list"
        );
    }
}
