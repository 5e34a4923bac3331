//! The demo's plugin: greets people and counts words. It needs no capability but `log`.

use pincer_sdk::{McpServer, Structured, ToolError, Toolbox, log};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

struct Hello;

impl McpServer for Hello {
    fn toolbox() -> Toolbox {
        Toolbox::new()
            .tool("greet", "Greets someone by name.", greet)
            .tool(
                "word_count",
                "Counts the words, lines and characters of a text.",
                word_count,
            )
    }
}

pincer_sdk::mcp_server!(Hello);

/// The arguments of `greet`.
#[derive(Deserialize, JsonSchema)]
struct Greet {
    /// Who to greet
    name: String,
}

fn greet(args: Greet) -> Result<String, ToolError> {
    log::info(format!("greeting {}", args.name));
    Ok(format!(
        "Hello, {}! Greetings from a Wasm sandbox.",
        args.name
    ))
}

/// The arguments of `word_count`.
#[derive(Deserialize, JsonSchema)]
struct WordCount {
    text: String,
}

/// What `word_count` counted.
#[derive(Serialize, JsonSchema)]
struct Counts {
    words: usize,
    lines: usize,
    characters: usize,
}

fn word_count(args: WordCount) -> Result<Structured<Counts>, ToolError> {
    let text = &args.text;
    let counts = Counts {
        words: text.split_whitespace().count(),
        lines: text.lines().count(),
        characters: text.chars().count(),
    };
    let summary = format!(
        "{} words, {} lines, {} characters",
        counts.words, counts.lines, counts.characters
    );
    Ok(Structured::new(counts).with_text(summary))
}
