//! The reference plugin for the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`, server mode): the tools, resources and prompts
//! that its scenarios call, by the exact names, URIs and texts the scenarios expect.
//! `tests/conformance/run.sh` serves it and runs the suite against it.
//!
//! It offers only what the `mcp-server` world can express: text and image content, an
//! `isError` result, text and binary resources, text prompts with arguments, log lines
//! during a call, and yes-or-no approvals (`approval.ask`). Scenarios that need more (audio or embedded-resource content,
//! progress, sampling, forms of its own, resource templates, image or resource messages
//! in prompts, a tool that must run as a task) have no tool, resource or prompt here;
//! `tests/conformance/expected-failures-*.yml` list them with the reason. The plugin
//! needs no capability but `log` and `approval`.

use std::time::Duration;

use pincer_sdk::{
    CallResult, Content, Contents, Image, McpServer, Message, NoArguments, Prompt, PromptArgs,
    ResourceInfo, Tool, ToolError, Toolbox, approval, log, prompt_arg,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// A 1x1 red PNG: the image that the image tool returns and the binary resource holds.
const RED_PIXEL_PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x00, 0x03, 0x01, 0x01, 0x00, 0xf7, 0x03, 0x41, 0x43, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The input schema of `json_schema_2020_12_tool`: what the `json-schema-2020-12`
/// scenario looks for, which the host must list unchanged: `$schema`, `$defs` (with an
/// `$anchor`), `additionalProperties`, composition (`allOf` holding an `anyOf`) and
/// conditional (`if`/`then`/`else`) keywords.
const SCHEMA_2020_12: &str = r##"{
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "address",
            "type": "object",
            "properties": {
                "street": { "type": "string" },
                "city": { "type": "string" }
            }
        }
    },
    "properties": {
        "name": { "type": "string" },
        "address": { "$ref": "#/$defs/address" }
    },
    "allOf": [
        { "anyOf": [{ "required": ["name"] }, { "required": ["address"] }] }
    ],
    "if": { "required": ["address"] },
    "then": { "properties": { "address": { "required": ["city"] } } },
    "else": { "required": ["name"] },
    "additionalProperties": false
}"##;

/// The input schema of `test_header_param`: one string argument that a client also
/// sends as the `Mcp-Param-Region` header (`x-mcp-header`, SEP-2243), which the host
/// checks against the body (scenario http-custom-header-server-validation).
const HEADER_PARAM_SCHEMA: &str = r#"{
    "type": "object",
    "properties": {
        "region": { "type": "string", "x-mcp-header": "Region", "description": "Where to run" }
    },
    "required": ["region"]
}"#;

/// The arguments of `greet`.
#[derive(Deserialize, JsonSchema)]
struct Greet {
    /// Who to greet
    name: String,
}

/// The arguments of `slow_compute`.
#[derive(Deserialize, JsonSchema)]
struct SlowCompute {
    /// How long to compute, in seconds
    #[schemars(range(max = 120))]
    seconds: u32,
}

/// The arguments of `confirm_delete`.
#[derive(Deserialize, JsonSchema)]
struct ConfirmDelete {
    /// The file to delete (nothing is deleted: the plugin has no files)
    filename: String,
}

/// How long the jobs of the Tasks scenarios run: long enough that the host makes
/// them tasks.
const JOB_TIME: Duration = Duration::from_secs(1);

/// The URI of the text resource (`resources-read-text`).
const STATIC_TEXT: &str = "test://static-text";
/// The URI of the binary resource (`resources-read-binary`).
const STATIC_BINARY: &str = "test://static-binary";
/// The URI of the resource a client subscribes to (`resources-subscribe`).
const WATCHED: &str = "test://watched-resource";

struct Conformance;

impl McpServer for Conformance {
    fn toolbox() -> Toolbox {
        Toolbox::new()
            .tool(
                "test_simple_text",
                "Returns one fixed text item (scenario tools-call-simple-text).",
                |_: NoArguments| Ok("This is a simple text response for testing."),
            )
            .tool(
                "test_image_content",
                "Returns a 1x1 red PNG as image content (scenario tools-call-image).",
                |_: NoArguments| {
                    Ok(CallResult {
                        content: vec![Content::Image(Image {
                            data: RED_PIXEL_PNG.to_vec(),
                            mime_type: "image/png".to_owned(),
                        })],
                        structured_content: None,
                        is_error: false,
                    })
                },
            )
            .tool(
                "test_error_handling",
                "Always fails with an isError result (scenario tools-call-error).",
                |_: NoArguments| {
                    Err::<String, _>(ToolError::failed(
                        "This tool intentionally returns an error for testing",
                    ))
                },
            )
            .tool(
                "test_tool_with_logging",
                "Logs three info lines 50 ms apart while it runs (scenario tools-call-with-logging).",
                |_: NoArguments| {
                    log::info("Tool execution started");
                    std::thread::sleep(Duration::from_millis(50));
                    log::info("Tool processing data");
                    std::thread::sleep(Duration::from_millis(50));
                    log::info("Tool execution completed");
                    Ok("Tool with logging executed successfully")
                },
            )
            .tool(
                "test_logging_tool",
                "Logs two info lines while it runs (scenario server-stateless: a 2026-07-28 client gets them only when it asks for a logLevel).",
                |_: NoArguments| {
                    log::info("Logging tool started");
                    log::info("Logging tool finished");
                    Ok("Logging tool executed")
                },
            )
            .tool(
                "test_streaming_elicitation",
                "Asks a person to approve before it answers (scenario server-stateless: a 2026-07-28 client is asked by an input_required result, never by a request on the stream).",
                |_: NoArguments| {
                    match approval::Request::new("continue", "Let the test tool go on").confirm() {
                        Ok(()) => Ok("Approved".to_owned()),
                        Err(e) => Err(ToolError::failed(e.to_string())),
                    }
                },
            )
            .tool(
                "test_reconnection",
                "Answers after 200 ms, on a stream a client may reconnect to with Last-Event-ID (scenario server-sse-polling).",
                |_: NoArguments| {
                    std::thread::sleep(Duration::from_millis(200));
                    Ok("Reconnection test completed")
                },
            )
            .raw_tool(
                Tool::new(
                    "test_header_param",
                    "Repeats its region, which a client also sends as the Mcp-Param-Region header (scenario http-custom-header-server-validation).",
                    HEADER_PARAM_SCHEMA,
                ),
                |args| {
                    let region = args.get("region").and_then(|v| v.as_str()).unwrap_or_default();
                    Ok(CallResult::text(format!("Region: {region}")))
                },
            )
            // The Tasks scenarios (tasks-*): quick tools are answered directly, slow
            // ones become tasks.
            .tool("greet", "Greets someone by name, at once.", |args: Greet| {
                Ok(format!("Hello, {}!", args.name))
            })
            .tool(
                "slow_compute",
                "Computes for the given number of seconds, then answers.",
                |args: SlowCompute| {
                    std::thread::sleep(Duration::from_secs(args.seconds.into()));
                    Ok(format!("Computed for {} s", args.seconds))
                },
            )
            .tool(
                "failing_job",
                "Runs for a second, then fails with an isError result.",
                |_: NoArguments| {
                    std::thread::sleep(JOB_TIME);
                    Err::<String, _>(ToolError::failed("the job failed, as it always does"))
                },
            )
            .tool(
                "protocol_error_job",
                "Runs for a second, then refuses the call as a call error (a failed task).",
                |_: NoArguments| {
                    std::thread::sleep(JOB_TIME);
                    Err::<String, _>(ToolError::invalid_arguments(
                        "the job refuses every call, as it always does",
                    ))
                },
            )
            .tool(
                "confirm_delete",
                "Asks a person to approve deleting a file, then says whether it would have.",
                |args: ConfirmDelete| {
                    let asked = approval::Request::new(
                        "delete-file",
                        format!("Delete {}", args.filename),
                    )
                    .confirm();
                    match asked {
                        Ok(()) => Ok(format!("Deleted {}", args.filename)),
                        Err(e) => Err(ToolError::failed(format!(
                            "{} was not deleted: {e}",
                            args.filename
                        ))),
                    }
                },
            )
            // The scenario gives the schema word for word, so it is not derived.
            .raw_tool(
                Tool::new(
                    "json_schema_2020_12_tool",
                    "Tool with JSON Schema 2020-12 features (scenario json-schema-2020-12).",
                    SCHEMA_2020_12,
                ),
                |args| {
                    Ok(CallResult::text(format!(
                        "Received arguments: {}",
                        serde_json::Value::Object(args)
                    )))
                },
            )
    }

    fn resources() -> Vec<ResourceInfo> {
        vec![
            ResourceInfo::new(
                STATIC_TEXT,
                "static-text",
                "A fixed text (scenario resources-read-text).",
                "text/plain",
            ),
            ResourceInfo::new(
                STATIC_BINARY,
                "static-binary",
                "A 1x1 red PNG (scenario resources-read-binary).",
                "image/png",
            ),
            ResourceInfo::new(
                WATCHED,
                "watched-resource",
                "A text a client subscribes to (scenarios resources-subscribe, -unsubscribe).",
                "text/plain",
            ),
        ]
    }

    fn read_resource(uri: &str) -> Result<Contents, String> {
        match uri {
            STATIC_TEXT => Ok(Contents::Text(
                "This is the content of the static text resource.".to_owned(),
            )),
            STATIC_BINARY => Ok(Contents::Blob(RED_PIXEL_PNG.to_vec())),
            WATCHED => Ok(Contents::Text("A resource that clients watch.".to_owned())),
            other => Err(format!("this plugin has no resource `{other}`")),
        }
    }

    fn prompts() -> Vec<Prompt> {
        vec![
            Prompt::new(
                "test_simple_prompt",
                "A prompt without arguments (scenario prompts-get-simple).",
            ),
            Prompt::new(
                "test_prompt_with_arguments",
                "A prompt that repeats its two arguments (scenario prompts-get-with-args).",
            )
            .required_argument("arg1", "First test argument")
            .required_argument("arg2", "Second test argument"),
        ]
    }

    fn get_prompt(name: &str, args: PromptArgs) -> Result<Vec<Message>, String> {
        match name {
            "test_simple_prompt" => Ok(vec![Message::user("This is a simple prompt for testing.")]),
            "test_prompt_with_arguments" => {
                let arg1 = prompt_arg(&args, "arg1")?;
                let arg2 = prompt_arg(&args, "arg2")?;
                Ok(vec![Message::user(format!(
                    "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
                ))])
            }
            other => Err(format!("this plugin has no prompt `{other}`")),
        }
    }
}

pincer_sdk::mcp_server!(Conformance);
