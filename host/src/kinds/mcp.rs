//! The `mcp-server` kind: list a plugin's tools and call one.
//!
//! Everything the plugin answers (tool definitions, results and errors, resources,
//! prompts) is cleaned of its secret values by the call's
//! [`CallRedactor`](crate::caps::redact::CallRedactor) before it is returned.

use serde::Serialize;

use std::sync::Arc;

use crate::caps::approval::Approver;
use crate::caps::log::LogSink;
use crate::caps::redact::{CallRedactor, Place};
use crate::runtime::{CallError, Plugin, Spent};
use crate::tools::ToolInfo;

world_bindings!("mcp-server");

use exports::pincer::plugin::{resources, tools};

/// An instance made ahead of its call, in its own store.
pub(crate) struct ReadyMcp {
    cs: crate::runtime::CallStore,
    server: McpServer,
}

/// A resource as the plugin describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceInfo {
    /// Its URI.
    pub uri: String,
    /// A short name.
    pub name: String,
    /// What it holds.
    pub description: Option<String>,
    /// Its media type.
    pub mime_type: Option<String>,
}

/// A resource's contents.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceContents {
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// A prompt as the plugin describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptInfo {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Its arguments.
    pub arguments: Vec<PromptArgument>,
}

/// One argument of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptArgument {
    /// Its name.
    pub name: String,
    /// What to give.
    pub description: Option<String>,
    /// Whether the prompt needs it.
    pub required: bool,
}

/// One item of a tool's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ContentItem {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image.
    Image {
        /// The encoded bytes; base64 in JSON output.
        #[serde(serialize_with = "base64_bytes")]
        data: Vec<u8>,
        /// Its size in bytes.
        bytes: usize,
        /// Its media type.
        mime_type: String,
    },
}

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolOutput {
    /// The content items.
    pub content: Vec<ContentItem>,
    /// Structured JSON result, if any.
    pub structured_content: Option<serde_json::Value>,
    /// True when the tool ran but failed.
    pub is_error: bool,
}

fn base64_bytes<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
}

fn parse_json(plugin: &Plugin, what: &str, text: &str) -> Result<serde_json::Value, CallError> {
    serde_json::from_str(text).map_err(|e| CallError::Host {
        plugin: plugin.id().to_owned(),
        message: format!("the plugin returned {what} that is not JSON: {e}"),
    })
}

impl Plugin {
    /// The plugin's tools, from a fresh instance.
    pub async fn list_tools(&self) -> Result<Vec<ToolInfo>, CallError> {
        let pre = self.mcp_pre()?;
        let (tools, redact) = self
            .run(async |cs| {
                let server = pre.instantiate_async(&mut cs.store).await?;
                let tools = server
                    .pincer_plugin_tools()
                    .call_list_tools(&mut cs.store)
                    .await?;
                Ok((tools, cs.store.data().redact().clone()))
            })
            .await?;
        let place = Place::ToolList;
        tools
            .into_iter()
            .map(|mut t| {
                let mut input_schema = parse_json(self, "an input schema", &t.input_schema)?;
                redact.json(&mut input_schema, place);
                let mut output_schema = t
                    .output_schema
                    .as_deref()
                    .map(|s| parse_json(self, "an output schema", s))
                    .transpose()?;
                if let Some(schema) = &mut output_schema {
                    redact.json(schema, place);
                }
                redact.string(&mut t.name, place);
                redact.option(&mut t.title, place);
                redact.string(&mut t.description, place);
                Ok(ToolInfo {
                    input_schema,
                    output_schema,
                    name: t.name,
                    title: t.title,
                    description: t.description,
                })
            })
            .collect()
    }

    /// Call the tool `name` with `arguments` (a JSON object as text) in a fresh
    /// instance.
    pub async fn call_tool(&self, name: &str, arguments: &str) -> Result<ToolOutput, CallError> {
        self.call_tool_asking(name, arguments, None).await
    }

    /// [`Plugin::call_tool`], with `approver` answering the call's `ask` approvals
    /// instead of the runtime's (an MCP server asks the client that made the call).
    pub async fn call_tool_asking(
        &self,
        name: &str,
        arguments: &str,
        approver: Option<Arc<dyn Approver>>,
    ) -> Result<ToolOutput, CallError> {
        self.call_tool_ready(name, arguments, approver, None)
            .await
            .0
    }

    /// [`Plugin::call_tool_asking`] in the instance made by
    /// [`Plugin::prepare_tool_call`] if there is one (else in a new one), returning
    /// the spent instance, for [`Plugin::recycle`] once the answer is out. The
    /// plugin's log lines also go to `log`, if given (an MCP client that asked).
    pub async fn call_tool_ready(
        &self,
        name: &str,
        arguments: &str,
        approver: Option<Arc<dyn Approver>>,
        log: Option<LogSink>,
    ) -> (Result<ToolOutput, CallError>, Spent) {
        let pre = match self.mcp_pre() {
            Ok(pre) => pre,
            Err(e) => return (Err(e), Spent::none()),
        };
        let ready = self.take_ready();
        let (store, server) = match ready {
            Some(ReadyMcp { cs, server }) => (Some(cs), Some(server)),
            None => (None, None),
        };
        let (name_owned, arguments) = (name.to_owned(), arguments.to_owned());
        let (result, spent) = self
            .run_in(store, async |cs| {
                // Approval rules may name the tool being called.
                let caps = &mut cs.store.data_mut().caps;
                caps.for_tool(&name_owned, approver);
                if let Some(log) = log {
                    caps.with_log_sink(log);
                }
                let server = match server {
                    Some(server) => server,
                    None => pre.instantiate_async(&mut cs.store).await?,
                };
                let result = server
                    .pincer_plugin_tools()
                    .call_call_tool(&mut cs.store, &name_owned, &arguments)
                    .await?;
                Ok((result, cs.store.data().redact().clone()))
            })
            .await;
        match result {
            Ok((result, redact)) => (self.tool_output(name, result, &redact), spent),
            Err(e) => (Err(e), spent),
        }
    }

    /// Make the instance of the next tool call now, so that the call does not wait for
    /// it. Each instance serves one call only: this one has run no plugin code but its
    /// initialisation, and shares nothing with the instance of any other call.
    pub async fn prepare_tool_call(&self) {
        let Ok(pre) = self.mcp_pre() else { return };
        if self
            .ready_mcp
            .lock()
            .expect("ready instance lock")
            .is_some()
        {
            return;
        }
        let made = async {
            let mut cs = self.new_store()?;
            let server = pre.instantiate_async(&mut cs.store).await?;
            Ok::<_, wasmtime::Error>(ReadyMcp { cs, server })
        };
        match made.await {
            Ok(ready) => *self.ready_mcp.lock().expect("ready instance lock") = Some(ready),
            // The call makes its own instance, and reports the fault if it recurs.
            Err(e) => tracing::debug!(plugin = %self.id(), "cannot prepare an instance: {e:#}"),
        }
    }

    /// Drop a spent instance (resetting its memory for the next one) and prepare the
    /// next call's: the work a server does after it has answered.
    pub async fn recycle(&self, spent: Spent) {
        drop(spent);
        self.prepare_tool_call().await;
    }

    fn take_ready(&self) -> Option<ReadyMcp> {
        self.ready_mcp.lock().expect("ready instance lock").take()
    }

    /// The plugin's answer to a call of tool `name`, cleaned by `redact`.
    fn tool_output(
        &self,
        name: &str,
        result: Result<tools::CallResult, tools::CallError>,
        redact: &CallRedactor,
    ) -> Result<ToolOutput, CallError> {
        let result = result.map_err(|e| match e {
            tools::CallError::UnknownTool(mut tool) => {
                redact.string(&mut tool, Place::ToolError);
                CallError::UnknownTool {
                    plugin: self.id().to_owned(),
                    tool,
                }
            }
            tools::CallError::InvalidArguments(mut message) => {
                redact.string(&mut message, Place::ToolError);
                CallError::InvalidArguments {
                    plugin: self.id().to_owned(),
                    tool: name.to_owned(),
                    message,
                }
            }
        })?;
        let place = if result.is_error {
            Place::ToolError
        } else {
            Place::ToolResult
        };
        // Parsed before it is redacted, so that a value written with JSON escapes is
        // found too.
        let mut structured_content = result
            .structured_content
            .as_deref()
            .map(|s| parse_json(self, "structured content", s))
            .transpose()?;
        if let Some(value) = &mut structured_content {
            redact.json(value, place);
        }
        Ok(ToolOutput {
            content: result
                .content
                .into_iter()
                .map(|c| match c {
                    tools::Content::Text(mut text) => {
                        redact.string(&mut text, place);
                        ContentItem::Text { text }
                    }
                    tools::Content::Image(mut img) => {
                        redact.bytes(&mut img.data, place);
                        redact.string(&mut img.mime_type, place);
                        ContentItem::Image {
                            bytes: img.data.len(),
                            data: img.data,
                            mime_type: img.mime_type,
                        }
                    }
                })
                .collect(),
            structured_content,
            is_error: result.is_error,
        })
    }

    /// The plugin's resources, from a fresh instance.
    pub async fn list_resources(&self) -> Result<Vec<ResourceInfo>, CallError> {
        let pre = self.mcp_pre()?;
        let (list, redact) = self
            .run(async |cs| {
                let server = pre.instantiate_async(&mut cs.store).await?;
                let list = server
                    .pincer_plugin_resources()
                    .call_list_resources(&mut cs.store)
                    .await?;
                Ok((list, cs.store.data().redact().clone()))
            })
            .await?;
        let place = Place::Resource;
        Ok(list
            .into_iter()
            .map(|mut r| {
                redact.string(&mut r.uri, place);
                redact.string(&mut r.name, place);
                redact.option(&mut r.description, place);
                redact.option(&mut r.mime_type, place);
                ResourceInfo {
                    uri: r.uri,
                    name: r.name,
                    description: r.description,
                    mime_type: r.mime_type,
                }
            })
            .collect())
    }

    /// Read the resource at `uri`: its contents, or the plugin's reason.
    pub async fn read_resource(
        &self,
        uri: &str,
    ) -> Result<Result<ResourceContents, String>, CallError> {
        let pre = self.mcp_pre()?;
        let uri = uri.to_owned();
        let (read, redact) = self
            .run(async |cs| {
                let server = pre.instantiate_async(&mut cs.store).await?;
                let read = server
                    .pincer_plugin_resources()
                    .call_read_resource(&mut cs.store, &uri)
                    .await?;
                Ok((read, cs.store.data().redact().clone()))
            })
            .await?;
        let place = Place::Resource;
        Ok(match read {
            Ok(resources::Contents::Text(mut text)) => {
                redact.string(&mut text, place);
                Ok(ResourceContents::Text(text))
            }
            Ok(resources::Contents::Blob(mut data)) => {
                redact.bytes(&mut data, place);
                Ok(ResourceContents::Blob(data))
            }
            Err(mut why) => {
                redact.string(&mut why, place);
                Err(why)
            }
        })
    }

    /// The plugin's prompts, from a fresh instance.
    pub async fn list_prompts(&self) -> Result<Vec<PromptInfo>, CallError> {
        let pre = self.mcp_pre()?;
        let (list, redact) = self
            .run(async |cs| {
                let server = pre.instantiate_async(&mut cs.store).await?;
                let list = server
                    .pincer_plugin_prompts()
                    .call_list_prompts(&mut cs.store)
                    .await?;
                Ok((list, cs.store.data().redact().clone()))
            })
            .await?;
        let place = Place::Prompt;
        Ok(list
            .into_iter()
            .map(|mut p| {
                redact.string(&mut p.name, place);
                redact.option(&mut p.description, place);
                PromptInfo {
                    name: p.name,
                    description: p.description,
                    arguments: p
                        .arguments
                        .into_iter()
                        .map(|mut a| {
                            redact.string(&mut a.name, place);
                            redact.option(&mut a.description, place);
                            PromptArgument {
                                name: a.name,
                                description: a.description,
                                required: a.required,
                            }
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// Fill in the prompt `name`: its messages as (role, text), or the plugin's reason.
    pub async fn get_prompt(
        &self,
        name: &str,
        arguments: Vec<(String, String)>,
    ) -> Result<Result<Vec<(String, String)>, String>, CallError> {
        let pre = self.mcp_pre()?;
        let name = name.to_owned();
        let (got, redact) = self
            .run(async |cs| {
                let server = pre.instantiate_async(&mut cs.store).await?;
                let got = server
                    .pincer_plugin_prompts()
                    .call_get_prompt(&mut cs.store, &name, &arguments)
                    .await?;
                Ok((got, cs.store.data().redact().clone()))
            })
            .await?;
        let place = Place::Prompt;
        Ok(match got {
            Ok(messages) => Ok(messages
                .into_iter()
                .map(|mut m| {
                    redact.string(&mut m.text, place);
                    (m.role, m.text)
                })
                .collect()),
            Err(mut why) => {
                redact.string(&mut why, place);
                Err(why)
            }
        })
    }
}
