//! The demo's plugin: greets people and counts words. It needs no capability but `log`.

use pincer_sdk::{Args, CallError, CallResult, McpServer, Tool, ToolOutcome, log, string_arg};

struct Hello;

impl McpServer for Hello {
    fn tools() -> Vec<Tool> {
        vec![
            Tool::new(
                "greet",
                "Greets someone by name.",
                r#"{"type":"object","properties":{"name":{"type":"string","description":"Who to greet"}},"required":["name"]}"#,
            ),
            Tool::new(
                "word_count",
                "Counts the words, lines and characters of a text.",
                r#"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#,
            ),
        ]
    }

    fn call(name: &str, args: Args) -> ToolOutcome {
        match name {
            "greet" => {
                let who = string_arg(&args, "name")?;
                log::log(log::Level::Info, &format!("greeting {who}"));
                Ok(CallResult::text(format!(
                    "Hello, {who}! Greetings from a Wasm sandbox."
                )))
            }
            "word_count" => {
                let text = string_arg(&args, "text")?;
                let words = text.split_whitespace().count();
                let lines = text.lines().count();
                let chars = text.chars().count();
                let mut result =
                    CallResult::text(format!("{words} words, {lines} lines, {chars} characters"));
                result.structured_content = Some(format!(
                    r#"{{"words":{words},"lines":{lines},"characters":{chars}}}"#
                ));
                Ok(result)
            }
            other => Err(CallError::UnknownTool(other.to_owned())),
        }
    }
}

pincer_sdk::mcp_server!(Hello);
