//! Write Pincer plugins in Rust.
//!
//! This crate holds the bindings to the `pincer:plugin` WIT package (the contract
//! between a plugin and the host) and helpers on top of them. A plugin of the
//! `mcp-server` kind implements [`McpServer`] and exports it with [`mcp_server!`]. Its
//! tools go in a [`Toolbox`]: each has a name, a description and a handler whose
//! argument type, a struct that derives `serde`'s `Deserialize` and `schemars`'
//! `JsonSchema`, gives the tool's input schema (its doc comments the descriptions) and
//! reads the call's arguments:
//!
//! ```
//! use pincer_sdk::{McpServer, ToolError, Toolbox, log};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// The arguments of `greet`.
//! #[derive(Deserialize, JsonSchema)]
//! struct Greet {
//!     /// Who to greet
//!     name: String,
//! }
//!
//! fn greet(args: Greet) -> Result<String, ToolError> {
//!     log::info(format!("greeting {}", args.name));
//!     Ok(format!("Hello, {}!", args.name))
//! }
//!
//! struct Hello;
//!
//! impl McpServer for Hello {
//!     fn toolbox() -> Toolbox {
//!         Toolbox::new().tool("greet", "Greets someone by name.", greet)
//!     }
//! }
//!
//! pincer_sdk::mcp_server!(Hello);
//! ```
//!
//! A handler returns text, a whole [`CallResult`], or [`Structured`] content (which
//! also declares the tool's output schema), or a [`ToolError`]. Arguments that do not
//! fit the type are refused with `invalid-arguments` before the handler runs, and the
//! message names the field.
//!
//! The capability interfaces ([`http`], [`secrets`], [`kv`], [`config`], [`approval`],
//! [`log`]) are the WIT's, with helpers: every capability error converts with `?` into
//! a [`CapabilityError`], a [`ToolError`], a chat plugin's
//! [`ChatError`](chat::ChatError) or a recorder's
//! [`RecorderError`](recording::RecorderError), and a denial keeps the host's text,
//! which names the manifest line that would allow the call. `http::Request::get(url)`
//! and its builder methods make a request and `send` it; `approval::Request::new`
//! asks and `confirm`s; [`log::info`] and its siblings log one line.
//!
//! The plugin imports only the capability interfaces it calls; the host links only
//! those its manifest grants.

/// Generated bindings for the `mcp-server` world, which includes every capability
/// interface.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "mcp-server",
        path: "../../wit/0.1.0",
        pub_export_macro: true,
        export_macro_name: "export_mcp_server_world",
        default_bindings_module: "pincer_sdk::bindings",
        // So that tests can compare tool results, call errors and requests.
        additional_derives: [PartialEq],
    });
}

mod caps;
mod time;
mod tools;

/// Plugins of the `chat` kind: the [`Chat`](chat::Chat) trait and the completion types.
pub mod chat;

/// Plugins of the `recorder` and `viewer` kinds: the [`Recorder`](recording::Recorder)
/// and [`Viewer`](recording::Viewer) traits and the recording types.
pub mod recording;

pub use bindings::exports::pincer::plugin::prompts;
pub use bindings::exports::pincer::plugin::prompts::{Argument as PromptArgument, Message, Prompt};
pub use bindings::exports::pincer::plugin::resources;
pub use bindings::exports::pincer::plugin::resources::{Contents, ResourceInfo};
pub use bindings::exports::pincer::plugin::tools::{CallError, CallResult, Content, Image, Tool};
pub use bindings::pincer::plugin::{approval, config, http, kv, secrets};
pub use caps::{CapabilityError, log};
pub use time::UtcTime;
pub use tools::{NoArguments, Structured, ToolError, ToolOutput, Toolbox};

/// A tool call's arguments: the JSON object the client sent.
pub type Args = serde_json::Map<String, serde_json::Value>;

/// What a tool handler returns: a result (which may itself be an `is-error` result) or
/// a call error (unknown tool, bad arguments).
pub type ToolOutcome = Result<CallResult, CallError>;

/// A prompt's arguments: the names and values the client filled in.
pub type PromptArgs = std::collections::BTreeMap<String, String>;

/// A plugin of the `mcp-server` kind.
///
/// A plugin declares its tools in [`toolbox`](McpServer::toolbox), and the default
/// [`tools`](McpServer::tools) and [`call`](McpServer::call) list and dispatch them.
/// A plugin whose tools are not known until it runs (such as one that forwards
/// another server's) overrides `tools` and `call` instead. A plugin with resources or
/// prompts overrides the methods for them; the defaults offer none, and reading or
/// getting one is an error that names what was asked for.
pub trait McpServer {
    /// The tools this plugin offers, with their handlers. None by default.
    fn toolbox() -> Toolbox {
        Toolbox::new()
    }

    /// The tools this plugin offers. Called when a client lists tools. By default,
    /// those of [`toolbox`](McpServer::toolbox).
    fn tools() -> Vec<Tool> {
        Self::toolbox().tools()
    }

    /// Run the tool `name` with `args`. Each call runs in a fresh instance, so nothing
    /// carries over between calls but what the plugin stores through a capability. By
    /// default, the handler that [`toolbox`](McpServer::toolbox) gives the tool.
    fn call(name: &str, args: Args) -> ToolOutcome {
        Self::toolbox().call(name, args)
    }

    /// The resources this plugin offers. Called when a client lists resources.
    fn resources() -> Vec<ResourceInfo> {
        Vec::new()
    }

    /// The contents of the resource at `uri`, or a text that says why there are none.
    fn read_resource(uri: &str) -> Result<Contents, String> {
        Err(format!("this plugin has no resource `{uri}`"))
    }

    /// The prompts this plugin offers. Called when a client lists prompts.
    fn prompts() -> Vec<Prompt> {
        Vec::new()
    }

    /// Fill in the prompt `name` with `args`, or say why it cannot be.
    fn get_prompt(name: &str, args: PromptArgs) -> Result<Vec<Message>, String> {
        let _ = args;
        Err(format!("this plugin has no prompt `{name}`"))
    }
}

impl Tool {
    /// A tool with a name, a description for the model and the admin, and the JSON
    /// Schema of its arguments.
    pub fn new(name: &str, description: &str, input_schema: &str) -> Self {
        Tool {
            name: name.to_owned(),
            title: None,
            description: description.to_owned(),
            input_schema: input_schema.to_owned(),
            output_schema: None,
        }
    }
}

impl CallResult {
    /// A successful result with one text item.
    pub fn text(text: impl Into<String>) -> Self {
        CallResult {
            content: vec![Content::Text(text.into())],
            structured_content: None,
            is_error: false,
        }
    }

    /// A failed result: the tool ran but could not do what was asked. The text
    /// explains why, to the model and the user.
    pub fn error(text: impl Into<String>) -> Self {
        CallResult {
            content: vec![Content::Text(text.into())],
            structured_content: None,
            is_error: true,
        }
    }
}

impl ResourceInfo {
    /// A resource with its URI, a short name, what it holds, and its media type.
    pub fn new(uri: &str, name: &str, description: &str, mime_type: &str) -> Self {
        ResourceInfo {
            uri: uri.to_owned(),
            name: name.to_owned(),
            description: Some(description.to_owned()),
            mime_type: Some(mime_type.to_owned()),
        }
    }
}

impl Prompt {
    /// A prompt with a name and what it is for, taking no arguments yet.
    pub fn new(name: &str, description: &str) -> Self {
        Prompt {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            arguments: Vec::new(),
        }
    }

    /// This prompt, also taking the argument `name`, which the client must give.
    pub fn required_argument(self, name: &str, description: &str) -> Self {
        self.argument(name, description, true)
    }

    /// This prompt, also taking the argument `name`, which the client may leave out.
    pub fn optional_argument(self, name: &str, description: &str) -> Self {
        self.argument(name, description, false)
    }

    fn argument(mut self, name: &str, description: &str, required: bool) -> Self {
        self.arguments.push(PromptArgument {
            name: name.to_owned(),
            description: Some(description.to_owned()),
            required,
        });
        self
    }
}

impl Message {
    /// A message from the user.
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: "user".to_owned(),
            text: text.into(),
        }
    }

    /// A message from the assistant.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message {
            role: "assistant".to_owned(),
            text: text.into(),
        }
    }
}

/// Read the prompt argument `key`, or say that the prompt needs it.
pub fn prompt_arg<'a>(args: &'a PromptArgs, key: &str) -> Result<&'a str, String> {
    args.get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("the prompt needs the argument `{key}`"))
}

/// The start of an HTTP body on one line (whitespace runs become one space), at most
/// `max_chars` characters and an ellipsis: what an error message quotes of a server's
/// answer. `(empty body)` when there is nothing to show.
pub fn body_excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return "(empty body)".to_owned();
    }
    let line = words.join(" ");
    let mut shown: String = line.chars().take(max_chars).collect();
    if line.chars().count() > max_chars {
        shown.push('…');
    }
    shown
}

/// Read the string argument `key` of a raw [`McpServer::call`], or say which argument
/// is missing. A [`Toolbox`] reads typed arguments instead.
pub fn string_arg<'a>(args: &'a Args, key: &str) -> Result<&'a str, CallError> {
    args.get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| CallError::InvalidArguments(format!("`{key}` must be a string")))
}

/// Parse the JSON text the host passes into an arguments object.
#[doc(hidden)]
pub fn parse_args(arguments: &str) -> Result<Args, CallError> {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(CallError::InvalidArguments(
            "arguments must be a JSON object".to_owned(),
        )),
        Err(e) => Err(CallError::InvalidArguments(format!(
            "arguments are not JSON: {e}"
        ))),
    }
}

/// Export a type that implements [`McpServer`] as this component's `mcp-server` world:
/// its tools, resources and prompts.
#[macro_export]
macro_rules! mcp_server {
    ($ty:ident) => {
        impl $crate::bindings::exports::pincer::plugin::tools::Guest for $ty {
            fn list_tools() -> ::std::vec::Vec<$crate::Tool> {
                <$ty as $crate::McpServer>::tools()
            }
            fn call_tool(
                name: ::std::string::String,
                arguments: ::std::string::String,
            ) -> $crate::ToolOutcome {
                let args = $crate::parse_args(&arguments)?;
                <$ty as $crate::McpServer>::call(&name, args)
            }
        }
        impl $crate::resources::Guest for $ty {
            fn list_resources() -> ::std::vec::Vec<$crate::ResourceInfo> {
                <$ty as $crate::McpServer>::resources()
            }
            fn read_resource(
                uri: ::std::string::String,
            ) -> ::std::result::Result<$crate::Contents, ::std::string::String> {
                <$ty as $crate::McpServer>::read_resource(&uri)
            }
        }
        impl $crate::prompts::Guest for $ty {
            fn list_prompts() -> ::std::vec::Vec<$crate::Prompt> {
                <$ty as $crate::McpServer>::prompts()
            }
            fn get_prompt(
                name: ::std::string::String,
                arguments: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Message>, ::std::string::String>
            {
                <$ty as $crate::McpServer>::get_prompt(&name, arguments.into_iter().collect())
            }
        }
        $crate::bindings::export_mcp_server_world!($ty with_types_in $crate::bindings);
    };
}
