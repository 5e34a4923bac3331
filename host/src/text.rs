//! Text that a plugin or a manifest controls, made safe to show a person.
//!
//! This module owns the one rule for every string that reaches a terminal (or a
//! person through the gateway or an MCP client's prompt) from a plugin or a manifest:
//! names, descriptions, paths, tool output, chat replies, log lines, errors and panic
//! messages, audit details. Control characters are shown escaped (`\u{1b}`, `\r`), and
//! so are invisible, direction-changing and line-separator characters (zero-width,
//! bidi overrides, U+2028, tag characters), so that such text cannot move the cursor,
//! erase lines, recolour the screen, or disguise and reorder what it is part of. It
//! must never drop a character silently: what was escaped stays visible.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// Every character that is escaped: controls, default-ignorable code points (zero-width,
/// soft hyphen, tag characters, variation selectors), bidi controls, the line and
/// paragraph separators and the interlinear annotation characters.
static HIDDEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[\p{Cc}\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\u{2028}\u{2029}\u{FFF9}-\u{FFFB}]",
    )
    .expect("a valid pattern")
});

/// Whether `c` could change how the text around it looks rather than show itself:
/// a control character, or an invisible or direction-changing one.
pub fn is_deceptive(c: char) -> bool {
    let mut buf = [0; 4];
    HIDDEN.is_match(c.encode_utf8(&mut buf))
}

/// `s` on one line as a person should see it: every [`is_deceptive`] character
/// escaped, tab, line feed and carriage return as `\t`, `\n`, `\r`, the rest as
/// `\u{XXXX}`.
pub fn printable(s: &str) -> String {
    escape(s, false).into_owned()
}

/// `s` as a person should see it, keeping its lines: like [`printable`], but a line
/// feed or a tab stays one (a carriage return does not: it would overwrite the line).
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_lines: bool) -> Cow<'_, str> {
    HIDDEN.replace_all(s, |caps: &regex::Captures| {
        let c = caps[0].chars().next().expect("a match holds a character");
        match c {
            '\n' | '\t' if keep_lines => c.to_string(),
            '\t' => "\\t".to_owned(),
            '\n' => "\\n".to_owned(),
            '\r' => "\\r".to_owned(),
            c => format!("\\u{{{:04X}}}", c as u32),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_a_plugin_are_shown_escaped() {
        assert_eq!(printable("ok\rDELETE"), "ok\\rDELETE");
        assert_eq!(printable("\u{1b}[2Jclear"), "\\u{001B}[2Jclear");
        assert_eq!(printable("Grüße"), "Grüße");
        assert_eq!(printable("a\nb"), "a\\nb");
    }

    #[test]
    fn lines_are_kept_but_nothing_else_that_moves_the_cursor() {
        assert_eq!(printable_lines("a\n\tb"), "a\n\tb");
        assert_eq!(
            printable_lines("/cache\u{1b}[1A\u{1b}[2K"),
            "/cache\\u{001B}[1A\\u{001B}[2K"
        );
        assert_eq!(printable_lines("ok\rfake"), "ok\\rfake");
        assert_eq!(printable_lines("\u{202e}evil"), "\\u{202E}evil");
        assert_eq!(printable("tag\u{E0041}"), "tag\\u{E0041}");
        assert!(matches!(printable_lines("plain text"), Cow::Borrowed(_)));
    }
}
