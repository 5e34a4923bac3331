//! The one-line description of each step of a timeline, such as
//! `click on #submit at (120, 40)` or `typed "hello" into #name`.
//!
//! A description is shown to people, so it is one line of at most
//! [`MAX_DESCRIPTION_CHARS`] characters: control characters, and the invisible and
//! direction-changing ones that could make it read as something else, are escaped.

use crate::recording::EventLine;

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// What the recorder writes for a value it redacted whole.
const REDACTED: &str = "[redacted]";

/// One line that says what `event` did.
pub fn describe(event: &EventLine) -> String {
    let target = event.target.as_deref().map(|t| escape(t, false));
    let value = event.value.as_deref().map(quote);
    let at = match (event.x, event.y) {
        (Some(x), Some(y)) => Some(format!("at ({x}, {y})")),
        _ => None,
    };
    let on = |word: &str| target.as_ref().map(|t| format!("{word} {t}"));
    let parts: Vec<Option<String>> = match event.kind.as_str() {
        "click" => vec![Some("click".to_owned()), on("on"), at],
        "input" => match value {
            Some(v) => vec![Some(format!("typed {v}")), on("into")],
            None => vec![Some("input".to_owned()), on("into")],
        },
        "key" => {
            let key = event.value.as_deref().map(|k| escape(k, false));
            vec![Some("key".to_owned()), key, on("in")]
        }
        "navigate" => {
            let url = target
                .clone()
                .or_else(|| event.value.as_deref().map(|v| escape(v, false)));
            vec![Some("navigate".to_owned()), url.map(|u| format!("to {u}"))]
        }
        "scroll" => vec![Some("scroll".to_owned()), on("on"), at],
        other => vec![Some(escape(other, false)), on("on"), value, at],
    };
    let line = parts.into_iter().flatten().collect::<Vec<_>>().join(" ");
    clip(&line, MAX_DESCRIPTION_CHARS)
}

/// `value` in double quotes with its quotes, backslashes and unprintable characters
/// escaped; a value redacted whole is shown as `[redacted]`, unquoted.
fn quote(value: &str) -> String {
    if value == REDACTED {
        REDACTED.to_owned()
    } else {
        format!("\"{}\"", escape(value, true))
    }
}

/// `text` with control, invisible and direction-changing characters escaped as `\n`,
/// `\t`, `\r` or `\u{…}`, and, when `quoted`, `"` and `\` escaped too.
fn escape(text: &str, quoted: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' | '\\' if quoted => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || is_invisible(c) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Format characters that show nothing or reorder text: zero-width characters, the
/// bidirectional marks, embeddings, overrides and isolates, and the byte-order mark.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// `line` cut to at most `max` characters, ending with `…` when cut.
fn clip(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        return line.to_owned();
    }
    let mut out: String = line.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        kind: &str,
        target: Option<&str>,
        value: Option<&str>,
        at: Option<(i32, i32)>,
    ) -> EventLine {
        EventLine {
            kind: kind.to_owned(),
            time_ms: 0,
            target: target.map(str::to_owned),
            value: value.map(str::to_owned),
            x: at.map(|p| p.0),
            y: at.map(|p| p.1),
        }
    }

    #[test]
    fn describes_each_kind_of_step() {
        let cases = [
            (
                event("click", Some("#submit"), None, Some((120, 40))),
                "click on #submit at (120, 40)",
            ),
            (event("click", None, None, Some((1, 2))), "click at (1, 2)"),
            (
                event("click", Some("#submit"), None, None),
                "click on #submit",
            ),
            (
                event("input", Some("#name"), Some("hello"), None),
                "typed \"hello\" into #name",
            ),
            (
                event("input", Some("#password"), Some("[redacted]"), None),
                "typed [redacted] into #password",
            ),
            (
                event("input", Some("#card"), Some("[redacted:card]"), None),
                "typed \"[redacted:card]\" into #card",
            ),
            (
                event("input", Some("#name"), None, None),
                "input into #name",
            ),
            (
                event("navigate", Some("https://example.com"), None, None),
                "navigate to https://example.com",
            ),
            (
                event("navigate", None, Some("https://example.com/a"), None),
                "navigate to https://example.com/a",
            ),
            (event("navigate", None, None, None), "navigate"),
            (event("key", None, Some("Enter"), None), "key Enter"),
            (
                event("key", Some("#search"), Some("Tab"), None),
                "key Tab in #search",
            ),
            (event("scroll", None, None, None), "scroll"),
            (
                event("scroll", Some("#list"), None, Some((0, 300))),
                "scroll on #list at (0, 300)",
            ),
            (
                event("select", Some("#country"), Some("NZ"), None),
                "select on #country \"NZ\"",
            ),
            (event("focus", None, None, None), "focus"),
        ];
        for (event, expected) in cases {
            assert_eq!(describe(&event), expected);
        }
    }

    #[test]
    fn keeps_a_description_on_one_line() {
        let typed = event(
            "input",
            Some("#a\nb"),
            Some("line one\nline \"two\"\t\\"),
            None,
        );
        assert_eq!(
            describe(&typed),
            r#"typed "line one\nline \"two\"\t\\" into #a\nb"#
        );
        let kind = event("odd\u{7}kind", None, None, None);
        assert_eq!(describe(&kind), "odd\\u{7}kind");
    }

    #[test]
    fn escapes_characters_that_hide_or_reorder_text() {
        let sneaky = event(
            "navigate",
            Some("https://exa\u{202E}lpmaxe.com\u{200B}"),
            None,
            None,
        );
        assert_eq!(
            describe(&sneaky),
            "navigate to https://exa\\u{202e}lpmaxe.com\\u{200b}"
        );
    }

    #[test]
    fn cuts_a_long_description_to_200_characters() {
        let long = "é".repeat(500);
        let typed = event("input", Some("#notes"), Some(&long), None);
        let line = describe(&typed);
        assert_eq!(line.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(line.starts_with("typed \"éé"));
        assert!(line.ends_with('…'));
        assert!(!line.chars().any(char::is_control));
    }
}
